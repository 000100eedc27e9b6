"""Evaluation stage: NeuroBench metrics, the ridge baseline, the authors' released networks, model loading."""
