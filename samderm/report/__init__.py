"""Results of a whole study: tidy tables, summary tables, figures and the report's inputs."""
