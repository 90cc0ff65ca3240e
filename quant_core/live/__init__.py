"""The live worker and its rooms: commands, planner, replay, risk, journal, state and files."""
