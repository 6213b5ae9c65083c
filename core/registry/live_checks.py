"""The pre-flight's live checks: how the candidate answered real traffic next to the alias's holder.

A regressor's answers are compared as numbers (shadow answers within a tolerance, realised MAE/RMSE
against true values); a classifier's as classes (the share of shadow pairs naming the same class,
realised accuracy against true classes). Latency is read the same way for both, from the roll-ups.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.mlflow_io import VersionInfo
from core.monitoring.percentiles import VersionLatency, paired_latency
from core.registry.checks import FAIL, PASS, UNKNOWN, WARN, Check
from core.settings import Settings
from core.task import Task
from storage import evidence

# Live evidence below these counts is noise, so its check says "unknown" rather than pass or fail.
MIN_FEEDBACK = 20
MIN_LATENCY_SAMPLES = 20
LATENCY_FACTOR = 2.0  # a candidate whose p95 is more than twice the holder's (and over budget) fails
AGREEMENT_TOLERANCE = 0.10  # a regressor's shadow answers within 10% of the served one "agree"
AGREEMENT_WARN_SHARE = 0.80
TASK_WORDS = {
    "regression": "a regressor (a number per request)",
    "classification": "a classifier (a class per request)",
}


def live_check_names(task: Task) -> tuple[str, str, str]:
    return ("shadow agreement", "realised accuracy" if task == "classification" else "realised error", "latency p95")


def task_check(candidate: VersionInfo, holder: VersionInfo, *, new: Task | None, old: Task | None) -> Check | None:
    """A failed check when the two versions do different jobs (callers would get another kind of answer)."""
    if new is None or old is None or new == old:
        return None
    return Check(
        "task",
        FAIL,
        f"version {candidate.version} is {TASK_WORDS[new]} but version {holder.version} is {TASK_WORDS[old]}: "
        "callers of the alias would get another kind of answer",
    )


def live_checks(
    settings: Settings,
    session: Session,
    *,
    candidate: VersionInfo,
    holder: VersionInfo | None,
    new: evidence.VersionEvidence,
    old: evidence.VersionEvidence | None,
    task: Task,
) -> list[Check]:
    """Shadow agreement, realised error or accuracy, and latency of ``candidate`` against ``holder``."""
    names = live_check_names(task)
    if holder is None or old is None:
        return [Check(name, UNKNOWN, "no holder to compare live answers with") for name in names]
    model = settings.model_name
    agreed = evidence.agreement(
        session,
        model_name=model,
        reference_version=holder.version,
        candidate_version=candidate.version,
        tolerance=AGREEMENT_TOLERANCE,
    )
    # Latency comes from the roll-ups, as on Monitoring, so both pages show the same p95.
    # Like with like: both p95s from the same kind of request (one record, batch rows, simulated).
    new_latency, old_latency = paired_latency(
        session, model_name=model, candidate=candidate.version, holder=holder.version, min_samples=MIN_LATENCY_SAMPLES
    )
    if task == "classification":
        quality = [_label_agreement_check(names[0], agreed), _accuracy_check(names[1], settings, new, old)]
    else:
        quality = [_agreement_check(names[0], agreed), _realised_check(names[1], settings, new, old)]
    return [*quality, _latency_check(names[2], settings, new_latency, old_latency)]


def _no_pairs(name: str, agreed: evidence.Agreement) -> Check:
    return Check(
        name,
        UNKNOWN,
        f"no request answered by both version {agreed.reference_version} and version "
        f"{agreed.candidate_version} yet (shadow traffic pairs them)",
    )


def _agreement_check(name: str, agreed: evidence.Agreement) -> Check:
    share = agreed.share_within_tolerance
    if share is None:
        return _no_pairs(name, agreed)
    difference = agreed.mean_abs_difference
    detail = (
        f"{share:.0%} of {agreed.pairs:,} shared requests within ±{agreed.tolerance:.0%} of version "
        f"{agreed.reference_version}; mean |difference| {0.0 if difference is None else difference:,.1f}"
    )
    return Check(name, PASS if share >= AGREEMENT_WARN_SHARE else WARN, detail)


def _label_agreement_check(name: str, agreed: evidence.Agreement) -> Check:
    share = agreed.label_agreement
    if share is None:
        if not agreed.pairs:
            return _no_pairs(name, agreed)
        return Check(name, UNKNOWN, f"none of the {agreed.pairs:,} shared requests has a class logged for both")
    detail = (
        f"{share:.0%} of {agreed.labelled_pairs:,} shared requests got the same class from both versions "
        f"(version {agreed.candidate_version} against version {agreed.reference_version})"
    )
    return Check(name, PASS if share >= AGREEMENT_WARN_SHARE else WARN, detail)


def _realised_check(
    name: str, settings: Settings, new: evidence.VersionEvidence, old: evidence.VersionEvidence
) -> Check:
    if min(new.feedback_count, old.feedback_count) < MIN_FEEDBACK:
        return Check(
            name,
            UNKNOWN,
            f"feedback on {new.feedback_count} answers of version {new.version} and {old.feedback_count} of "
            f"version {old.version} (needs {MIN_FEEDBACK} each)",
        )
    assert new.realised_rmse is not None and old.realised_rmse is not None
    detail = (
        f"version {new.version}: MAE {new.realised_mae:,.1f}, RMSE {new.realised_rmse:,.1f} "
        f"({new.feedback_count}); version {old.version}: MAE {old.realised_mae:,.1f}, "
        f"RMSE {old.realised_rmse:,.1f} ({old.feedback_count})"
    )
    worse = new.realised_rmse > old.realised_rmse * (1 + settings.promotion_tolerance)
    return Check(name, FAIL if worse else PASS, detail)


def _accuracy_check(
    name: str, settings: Settings, new: evidence.VersionEvidence, old: evidence.VersionEvidence
) -> Check:
    if min(new.label_feedback_count, old.label_feedback_count) < MIN_FEEDBACK:
        return Check(
            name,
            UNKNOWN,
            f"true classes for {new.label_feedback_count} answers of version {new.version} and "
            f"{old.label_feedback_count} of version {old.version} (needs {MIN_FEEDBACK} each)",
        )
    assert new.realised_accuracy is not None and old.realised_accuracy is not None

    def said(found: evidence.VersionEvidence) -> str:
        coverage = found.label_coverage or 0.0
        return (
            f"version {found.version}: accuracy {found.realised_accuracy:.1%} on {found.label_feedback_count:,} "
            f"answers with a true class ({coverage:.0%} of its {found.predictions:,} answers)"
        )

    tolerance = settings.promotion_tolerance
    change = (new.realised_accuracy - old.realised_accuracy) / old.realised_accuracy if old.realised_accuracy else 0.0
    detail = f"{said(new)}; {said(old)} (higher is better, tolerance {tolerance:.0%})"
    return Check(name, FAIL if change < -tolerance else PASS, detail)


def _latency_check(name: str, settings: Settings, new: VersionLatency, old: VersionLatency) -> Check:
    if min(new.samples, old.samples) < MIN_LATENCY_SAMPLES:
        return Check(
            name,
            UNKNOWN,
            f"{new.samples} logged {new.basis} answers of version {new.version} and {old.samples} of version "
            f"{old.version} (needs {MIN_LATENCY_SAMPLES} each)",
        )
    assert new.p95_ms is not None and old.p95_ms is not None
    budget = settings.alert_p95_latency_ms
    detail = f"{new.p95_ms:,.1f} ms vs {old.p95_ms:,.1f} ms on {new.basis} answers (limit ×{LATENCY_FACTOR:g}"
    detail += ")" if budget is None else f" and over the {budget:,.0f} ms p95 budget)"
    if new.p95_ms <= LATENCY_FACTOR * old.p95_ms:
        return Check(name, PASS, detail)
    # Slower, but a model that still answers within the operators' latency budget only warns: restoring a
    # heavier but better model (a rollback, say) must not be blocked by a lighter one's speed.
    within_budget = budget is not None and new.p95_ms <= budget
    return Check(name, WARN if within_budget else FAIL, detail)
