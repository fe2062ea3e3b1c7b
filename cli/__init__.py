"""usagectl.cli."""
