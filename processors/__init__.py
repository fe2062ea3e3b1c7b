"""usagectl.processors."""
