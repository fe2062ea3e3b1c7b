"""usagectl.projections."""
