"""``python -m core feedback`` on the demo regressor as ``train`` registers it: its profile records the price, so a
true value keeps to the price's sign and plausible range (refused by name), as a team model's profiled target does."""

from tests.core.commands.test_feedback import logged_predictions, stored_feedback


def test_the_demo_version_trained_by_train_refuses_a_negative_or_absurd_price_by_name(
    cli, registry_home, tmp_path
) -> None:
    ids = logged_predictions(registry_home, 3)
    feedback = tmp_path / "feedback.csv"
    feedback.write_text(f"prediction_id,actual\n{ids[0]},-5\n{ids[1]},1e9\n{ids[2]},2345\n")

    ran = cli("feedback", "--input", str(feedback))

    assert ran.code == 0, ran.err
    assert "1 actual value stored" in ran.out
    assert "row 1: actual: must be > 0, got -5 (rule: gt 0; price is never ≤ 0 in the reference data)" in ran.out
    assert "row 2: actual: 1000000000 is beyond the plausible range 0 … " in ran.out and "(rule: range;" in ran.out
    assert stored_feedback(registry_home) == {ids[2]: 2345.0}
