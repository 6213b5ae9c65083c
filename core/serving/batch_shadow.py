"""Shadow scoring of a scored batch: a second pass over the file, after its output is in place, and idempotent.

Each answer of the batch is found in the log by its key (``predictions.client_id``); answers the challenger
has already shadow-scored (a re-run after a kill during this pass) are not scored again.
"""

from __future__ import annotations

from core.serving.batch_reader import BatchReader
from core.serving.model_cache import ServingError, serve
from core.serving.served_model import ServedModel
from core.serving.shadow import SHADOW_ALIAS, ShadowResult, score_shadow
from core.settings import Settings
from storage.batch_log import logged_answers, row_key, shadowed
from storage.db import Sessions, reading


def shadow_batch(
    settings: Settings,
    served: ServedModel,
    reader: BatchReader,
    *,
    sessions: Sessions,
    batch_key: str,
    request_id: str,
    source_name: str,
) -> ShadowResult | None:
    """The challenger shadow-scores every answer of the batch (read again from the file) it has not scored yet;
    ``None`` when there is no challenger, or it is the version that answered."""
    try:
        challenger, _ = serve(settings, alias=SHADOW_ALIAS)
    except ServingError:
        return None
    if challenger.version == served.version:
        return None
    total = ShadowResult(version=challenger.version)
    for chunk in reader.chunks():
        check = served.schema.validate_frame(chunk.frame)
        if check.clean.empty:
            continue
        keys = [row_key(batch_key, int(row)) for row in check.clean.index]
        with reading(sessions) as session:
            logged = logged_answers(session, model_name=settings.model_name, client_ids=keys)
            done = shadowed(
                session,
                prediction_ids=[answer.prediction_id for answer in logged.values()],
                version=challenger.version,
            )
        by_version: dict[int, list[int]] = {}
        for position, key in enumerate(keys):
            answer = logged.get(key)
            if answer is not None and answer.prediction_id not in done and answer.model_version != challenger.version:
                by_version.setdefault(answer.model_version, []).append(position)
        for version, positions in by_version.items():
            result = score_shadow(
                settings,
                check.clean.iloc[positions],
                sessions=sessions,
                source=source_name,
                request_id=request_id,
                shadow_of=[logged[keys[p]].prediction_id for p in positions],
                answer_version=version,
            )
            if result is None:
                continue
            if result.error:
                return ShadowResult(scored=total.scored, error=result.error)
            total = ShadowResult(
                version=challenger.version,
                scored=total.scored + result.scored,
                skipped=total.skipped + result.skipped,
                seconds=total.seconds + result.seconds,
            )
    return total
