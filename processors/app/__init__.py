"""The application layer both faces call downward: typed queries parsed once, the report
builders, settings and the wiring of every role (embedded hub, producer, processor, consumers).
No argv and no HTTP here; see ARCHITECTURE.md."""
