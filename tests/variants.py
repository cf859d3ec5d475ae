"""The supported variant combinations, each with a readable id.

Every database is crossed with the yes/no prompts where they change files;
one variant also moves every number away from its default and uses a
project name with spaces, unicode and shell metacharacters.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    id: str
    answers: dict[str, str] = field(default_factory=dict)
    # Whether the generated suite's slow tier runs too (`pytest --slow`: real
    # servers and signals, a browser, memory peaks and leak checks): for the
    # default variant of each database, and over its `suite` for a variant
    # whose answers change the served processes. Those tests set what they
    # depend on themselves (limits, grace times): other answers change
    # nothing they check, and those variants run the fast tier.
    slow_tests: bool = False
    # The generated test files to run (empty: all of them). A variant that
    # only adds a feature to a database already tested in full runs the tests
    # of what it adds and what that touches.
    suite: tuple[str, ...] = ()

    @property
    def database(self) -> str:
        return self.answers.get("database", "sqlite")

    def answer(self, name: str, default: str) -> str:
        return self.answers.get(name, default)


VARIANTS = [
    Variant("sqlite-default", slow_tests=True),
    # Without the example resources, on both databases: the example's suite
    # runs in the variants above, these run the rest and a resource added by
    # new-resource.
    Variant("sqlite-no-docker-no-example", {"with_docker": "no", "example_domain": "none"}),
    # Prometheus on PostgreSQL runs the whole fast tier (below); on SQLite,
    # both tiers of the metrics, serving (multiprocess metrics under gunicorn)
    # and health tests, with OpenTelemetry tracing alongside and its tests.
    Variant(
        "sqlite-prometheus-opentelemetry",
        {"with_prometheus": "yes", "with_opentelemetry": "yes"},
        slow_tests=True,
        suite=(
            "tests/test_metrics.py",
            "tests/test_serving.py",
            "tests/test_health.py",
            "tests/test_telemetry.py",
        ),
    ),
    Variant("postgresql-default", {"database": "postgresql"}, slow_tests=True),
    Variant(
        "postgresql-prometheus-no-docker-no-example",
        {
            "database": "postgresql",
            "with_prometheus": "yes",
            "with_docker": "no",
            "example_domain": "none",
        },
    ),
    Variant(
        "sqlite-custom-answers",
        {
            "project_name": "Café Bookings & Co. $(rm -rf) 'quoted' \"too\"",
            "memory_threshold_percent": "70",
            "memory_critical_percent": "80",
            "max_body_size_mb": "2",
            "max_upload_size_mb": "20",
            "db_pool_size": "5",
            "db_max_overflow": "0",
            "default_page_size": "20",
            "max_page_size": "40",
            "gc_interval_seconds": "0",
        },
    ),
]
