"""Report validation: the columnar check of a batch against the per-report one."""

from hypothesis import given, settings
from hypothesis import strategies as st

from detente.model.reports import ReportBatch, TrackReport, report_problem

_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, 90.0, 90.0001, -180.0, 1500.0, 1500.1, -1000.0]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "", " ", "x" * 64, "x" * 65]),
                          *([_FLOATS] * 7)), max_size=8))
def test_batch_first_problem_is_the_first_report_report_problem_refuses(rows):
    """Oracle: report_problem applied to each report in turn."""
    reports = [TrackReport(*row) for row in rows]
    expected = next(((k, *p) for k, rep in enumerate(reports)
                     if (p := report_problem(rep)) is not None), None)
    assert ReportBatch.from_reports(reports).first_problem() == expected
