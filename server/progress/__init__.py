"""The learner progress API (progress-api-story.md, contract §6)."""
