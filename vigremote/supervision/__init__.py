"""Supervision: trainees, their supervisors and peer groups, shares, comments."""
