"""Live state shared by the server's processes (leases, rosters, events): live/state.py."""
