"""The teacher progress board (progress-board-api.md, contract §5)."""
