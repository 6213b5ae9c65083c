"""Predict: one case from a form, a CSV batch, or ground truth for logged predictions."""

import streamlit as st

from core.charts import class_probability_figure
from core.serving.batch import BatchFileError, answers_first, score_csv, template_csv
from core.serving.feedback import attach_feedback, registry_profiles
from core.serving.input_fields import FieldSpec
from core.serving.model_cache import ServingError, serve
from core.serving.scoring import predict_one, score_shadow_for
from core.task import PROBABILITY_PREFIX, class_text
from ui.errors import action
from ui.formats import amount, command, input_step, milliseconds, number, number_column_format, plain, plural
from ui.page import page_setup
from ui.resources import prediction_log_sessions

ALIAS = "champion"
COLUMNS_PER_ROW = 3
PREVIEW_ROWS = 200
FIELD_KEY = "predict_field_"
DATETIME_EXAMPLE = "2026-11-30T14:05:00"


def field_input(spec: FieldSpec) -> object:
    """The widget for one input, by its type; an optional input starts empty and may stay so."""
    key = f"{FIELD_KEY}{spec.name}"
    label = plain(spec.name) + ("" if spec.required else " (optional)")
    optional = None if spec.required else "optional"
    if spec.dtype == "boolean":
        if spec.required:
            return st.toggle(label, value=spec.default in ("True", True), key=key, help="true or false")
        return st.selectbox(label, list(spec.levels or ("False", "True")), index=None, placeholder="optional", key=key)
    if spec.dtype == "datetime":
        return st.text_input(
            label,
            key=key,
            placeholder=f"{DATETIME_EXAMPLE}{' · optional' if optional else ''}",
            help=f"A date ({DATETIME_EXAMPLE[:10]}) or a date and time ({DATETIME_EXAMPLE}), ISO 8601.",
        )
    if spec.kind == "categorical":
        if spec.levels:
            levels = list(spec.levels)
            default = levels.index(spec.default) if spec.required and spec.default in levels else None
            if spec.required and default is None:
                default = 0
            return st.selectbox(label, levels, index=default, placeholder=optional or "choose", key=key)
        value = "" if optional or spec.default is None else str(spec.default)
        return st.text_input(label, value=value, placeholder=optional or "", key=key)
    known = spec.train_min is not None and spec.train_max is not None
    help_text = (
        f"Reference range {number(spec.train_min)} – {number(spec.train_max)}" if known else "No reference range known"
    )
    if spec.plausible_min is not None and spec.plausible_max is not None:
        help_text += f"; accepted {number(spec.plausible_min)} – {number(spec.plausible_max)}"
    default = spec.default if spec.required else None
    placeholder = (
        f"optional · reference median {number(spec.default)}" if optional and spec.default is not None else optional
    )
    if spec.required:
        # The default is only where the field starts: the widget itself may be emptied (value=None), and an
        # emptied required field is refused as "required" instead of snapping back to the default and being scored.
        placeholder = "required"
        if key not in st.session_state and default is not None:
            st.session_state[key] = int(default) if spec.dtype == "integer" else float(default)
    if spec.dtype == "integer":
        return st.number_input(
            label,
            value=None,
            step=1,
            key=key,
            help=help_text,
            placeholder=placeholder,
        )
    return st.number_input(
        label,
        value=None,
        step=input_step(spec.train_min, spec.train_max, spec.default if isinstance(spec.default, float) else None),
        format="%g",
        key=key,
        help=help_text,
        placeholder=placeholder,
    )


def loading_text(model_name: str, version: int | None) -> str:
    """What the spinner says while the champion loads: the model and the version being loaded."""
    which = f"version {version}" if version is not None else f"the version `{ALIAS}` points to"
    return f"Loading {plain(model_name)} {which} (`{ALIAS}`)…"


with action("Showing the Predict page"):
    console = page_setup("Predict", "🎯")
    settings = console.settings
    st.title("Predict")
    st.caption(f"Score with the version that `{ALIAS}` points to now. Every answer goes to the prediction log.")
    # Commands act on LOUPE_MODEL_NAME: when another model is chosen in the sidebar, hints set it.
    other_model = None if settings.model_name == console.models.configured else settings.model_name

    with action("Opening the prediction log", stop=True):
        sessions = prediction_log_sessions(settings.database_url)
    champion_version = console.live.versions.get(ALIAS)
    with action(f"Loading the model behind {ALIAS}", version=champion_version) as loading:
        try:
            # The first visit loads (and may download) the model: say which version instead of a blank page.
            with st.spinner(loading_text(settings.model_name, champion_version)):
                served, resolution = serve(settings, alias=ALIAS)
        except ServingError as error:
            st.error(f"Nothing can answer: {plain(error)}", icon="🚫")
            st.stop()
    if loading.failed is not None:
        st.stop()  # the boundary said what failed (and, for a model without inputs, what to attach)

    # A form or a result belongs to one model version: choosing another model (or a new champion) starts afresh.
    answering = (served.name, served.version)
    if st.session_state.get("predict_for") != answering:
        for stale in [key for key in st.session_state if str(key).startswith(FIELD_KEY)]:
            del st.session_state[stale]
        for stale in ("predict_outcome", "predict_shadow_pending", "batch_result"):
            st.session_state.pop(stale, None)
        st.session_state["predict_for"] = answering

    schema = served.schema
    answer_label = plain(served.answer_label)
    if resolution.notice:
        st.warning(plain(resolution.notice), icon="📦")
    if not settings.shadow:
        shadow_note = " · shadow scoring off"
    elif "challenger" in console.live.versions:
        shadow_note = " · shadow scoring on (challenger logged, never shown)"
    else:
        shadow_note = " · shadow scoring on (no version holds `challenger`)"
    st.markdown(
        f"Answering: **{plain(served.name)} v{served.version}** (`{ALIAS}`, {plain(served.flavor)}){shadow_note}"
    )
    unit = f" · answers in {plain(resolution.unit)}" if resolution.unit else ""
    if served.task == "classification":
        classes = ", ".join(plain(class_text(value)) for value in served.classes[:12])
        more = f" and {len(served.classes) - 12} more" if len(served.classes) > 12 else ""
        predicts = f"Classifies: {answer_label} into {len(served.classes)} classes ({classes}{more})"
    else:
        predicts = f"Predicts: {answer_label}{unit}"
    st.caption(f"{predicts} · one-case scoring: {plain(served.scoring_path)}")
    if not schema.has_profile:
        st.info(
            f"Version {served.version} has no reference data: only its signature's types are checked (no ranges, "
            "no defaults to start from). Attach its training data as reference data on the **Registry** page.",
            icon="ℹ️",
        )

    single, batch, truth = st.tabs(["Single case", "Batch CSV", "Ground truth"], key="predict_tabs")

    with single:
        with st.form("predict_form", border=True):
            values: dict[str, object] = {}
            # One row of columns per line of fields: the tab key then runs across a row, as the grid reads
            # (a single set of columns would send it down each column first).
            for start in range(0, len(schema.fields), COLUMNS_PER_ROW):
                row = st.columns(COLUMNS_PER_ROW)
                for column, spec in zip(row, schema.fields[start : start + COLUMNS_PER_ROW], strict=False):
                    with column:
                        values[spec.name] = field_input(spec)
            submitted = st.form_submit_button("Predict", type="primary", key="predict_submit")

        scoring_failed = False
        if submitted:
            st.session_state.pop("predict_outcome", None)  # a failed answer must not leave the last one on screen
            with action("Scoring the form", version=served.version) as scoring:
                outcome = predict_one(settings, values, sessions=sessions, source="form", alias=ALIAS, run_shadow=False)
                st.session_state["predict_outcome"] = outcome
                st.session_state["predict_shadow_pending"] = outcome.accepted
            scoring_failed = scoring.failed is not None

        outcome = st.session_state.get("predict_outcome")
        if outcome is None:
            if not scoring_failed:  # after a failure, its message is what the operator needs
                st.caption(
                    "Fill in the case and press **Predict**."
                    + (" Defaults are the reference's medians and most frequent levels." if schema.has_profile else "")
                )
        elif not outcome.accepted:
            st.error(
                "Refused — nothing was logged as a prediction:\n\n"
                + "\n".join(f"- {plain(e.message)}" for e in outcome.errors)
            )
        else:
            metrics = st.columns(3)
            if outcome.task == "classification":
                shown_as = "Predicted class" if served.output_name is None else f"Predicted {answer_label}"
                metrics[0].metric(shown_as, plain(outcome.label))
            else:
                shown_as = "Prediction" if served.output_name is None else f"Predicted {answer_label}"
                metrics[0].metric(shown_as, plain(amount(outcome.prediction, resolution.unit)))
            metrics[1].metric("Answering version", f"v{outcome.version}")
            metrics[2].metric("Latency", milliseconds(outcome.latency_ms))
            if outcome.task == "classification" and outcome.probabilities:
                st.plotly_chart(
                    class_probability_figure(outcome.probabilities, predicted=class_text(outcome.label)),
                    key="predict_probabilities",
                )
            elif outcome.task == "classification":
                st.caption(
                    "This model gives no class probabilities (it has no `predict_proba`); only its class is shown."
                )
            for warning in outcome.warnings:
                st.warning(f"Out of distribution — {plain(warning)}", icon="⚠️")
            if outcome.notice:
                st.caption(plain(outcome.notice))
            st.caption(f"Logged as prediction #{outcome.prediction_id} (request `{outcome.request_id}`).")
            # Shadow scoring runs only now, after the answer is on screen.
            if st.session_state.pop("predict_shadow_pending", False):
                with action("Shadow-scoring this case with the challenger"):
                    shadow = score_shadow_for(settings, outcome, sessions=sessions, source="form")
                    if shadow is not None and shadow.error:
                        st.caption(f"Challenger shadow scoring failed: {plain(shadow.error)}")
                    elif shadow is not None and shadow.version is not None:
                        st.caption(f"Challenger v{shadow.version} shadow-scored this case (logged for comparison).")

    with batch:
        limit_mb = int(st.get_option("server.maxUploadSize"))
        st.download_button(
            "Download a template CSV",
            data=template_csv(schema),
            file_name=f"{served.name}-template.csv",
            mime="text/csv",
            key="batch_template",
        )
        uploaded = st.file_uploader(
            "CSV to score (UTF-8, comma-separated, one column per input)",
            type=["csv"],
            key="batch_upload",
            help=f"Up to {limit_mb} MB here (the upload is held in memory while it is scored; a file sent again is "
            "answered from the log, not logged twice); for larger files use "
            + command(["python", "-m", "core", "score", "--input", "IN.csv", "--output", "OUT.csv"], model=other_model)
            + ".",
        )
        if st.button("Score the file", type="primary", key="batch_score", disabled=uploaded is None):
            st.session_state.pop("batch_result", None)
            with action(f"Scoring {uploaded.name}", version=served.version) as scoring:
                bar = scoring.transient(st.progress(0.0, text="Validating…"))
                last = {"step": -1}

                def report(fraction: float) -> None:
                    step = int(fraction * 50)
                    if step != last["step"]:
                        last["step"] = step
                        bar.progress(fraction, text="Scoring and logging…")

                try:
                    notices, result = score_csv(
                        settings,
                        uploaded,
                        sessions=sessions,
                        source="batch",
                        alias=ALIAS,
                        max_bytes=limit_mb * 1024 * 1024,
                        progress=report,
                    )
                except BatchFileError as error:
                    bar.empty()
                    st.error(f"{plain(uploaded.name)}: {plain(error)}", icon="🚫")
                else:
                    bar.progress(1.0, text="Done")
                    told = [*notices, *([result.notice] if result.notice else [])]
                    if result.already_logged:
                        told.append(
                            f"{plural(result.already_logged, 'row')} of this file were already in the log "
                            "(sent before): answered from it with their prediction ids, not logged again"
                        )
                    if result.rejections_not_kept:
                        told.append(
                            f"{result.rejections_not_kept:,} more refusal(s) counted but not kept: the first "
                            f"{settings.rejections_per_batch:,} of a batch are kept (LOUPE_REJECTIONS_PER_BATCH)"
                        )
                    st.session_state["batch_result"] = {
                        "name": uploaded.name,
                        "rows": result.rows_in,
                        "scored": result.scored,
                        "rejected_rows": result.rejected_rows,
                        "version": result.model_version,
                        "notices": told,
                        "ood": result.ood_rows,
                        "preview": answers_first(result.accepted.head(PREVIEW_ROWS)),
                        "rejected_preview": result.rejected.head(PREVIEW_ROWS),
                        "accepted_csv": result.results_csv or b"",
                        "rejected_csv": result.rejected_csv or b"",
                    }

        outcome_batch = st.session_state.get("batch_result")
        if outcome_batch is None:
            st.caption("Upload a CSV with the template's columns, then **Score the file**.")
        else:
            for notice in outcome_batch["notices"]:
                st.info(plain(notice), icon="ℹ️")
            metrics = st.columns(4)
            metrics[0].metric("Rows", f"{outcome_batch['rows']:,}")
            metrics[1].metric("Scored", f"{outcome_batch['scored']:,}")
            metrics[2].metric("Rejected rows", f"{outcome_batch['rejected_rows']:,}")
            metrics[3].metric("Version", f"v{outcome_batch['version']}")
            if outcome_batch["ood"]:
                have = "has a value" if outcome_batch["ood"] == 1 else "have values"
                st.warning(f"{plural(outcome_batch['ood'], 'scored row')} {have} outside the training range.", icon="⚠️")
            downloads = st.columns(2)
            downloads[0].download_button(
                "Download results",
                data=outcome_batch["accepted_csv"],
                file_name=f"scored-{outcome_batch['name']}",
                mime="text/csv",
                key="batch_download_accepted",
                disabled=not outcome_batch["scored"],
            )
            downloads[1].download_button(
                "Download rejected rows",
                data=outcome_batch["rejected_csv"],
                file_name=f"rejected-{outcome_batch['name']}",
                mime="text/csv",
                key="batch_download_rejected",
                disabled=not outcome_batch["rejected_rows"],
            )
            if outcome_batch["scored"]:
                st.subheader("Scored rows")
                answer_title = "prediction" if served.output_name is None else f"prediction ({served.answer_label})"
                if served.task == "classification":
                    answer_columns = {"prediction": st.column_config.TextColumn(answer_title)}
                    # Probabilities as percentages, as the form's bars show them (the CSV keeps 0–1 in full).
                    answer_columns |= {
                        column: st.column_config.NumberColumn(column, format="percent", step=0.001)
                        for column in outcome_batch["preview"].columns
                        if str(column).startswith(PROBABILITY_PREFIX)
                    }
                else:
                    # The answer as the form shows one ($2,392), in the version's unit; the download keeps every digit.
                    answer_format = number_column_format(outcome_batch["preview"]["prediction"], resolution.unit)
                    answer_columns = {"prediction": st.column_config.NumberColumn(answer_title, format=answer_format)}
                st.dataframe(
                    outcome_batch["preview"], key="batch_preview", hide_index=True, column_config=answer_columns
                )
            if outcome_batch["rejected_rows"]:
                st.subheader("Rejected rows (row 1 is the first line under the header)")
                st.dataframe(outcome_batch["rejected_preview"], key="batch_rejected_preview", hide_index=True)

    with truth:
        st.markdown(
            "Attach true values to logged predictions: a CSV with the columns `prediction_id,actual` — a number "
            "for a regressor's prediction, one of the model's classes for a classifier's."
        )
        st.download_button(
            "Download a feedback template",
            data=b"prediction_id,actual\n",
            file_name="feedback-template.csv",
            mime="text/csv",
            key="feedback_template",
        )
        feedback_file = st.file_uploader("Feedback CSV", type=["csv"], key="feedback_upload")
        if st.button("Attach actuals", key="feedback_attach", disabled=feedback_file is None):
            with action(f"Attaching the actuals in {feedback_file.name}"):
                try:
                    attached = attach_feedback(
                        feedback_file.getvalue(), sessions=sessions, profiles=registry_profiles(settings)
                    )
                except BatchFileError as error:
                    st.error(f"{plain(feedback_file.name)}: {plain(error)}", icon="🚫")
                else:
                    st.success(f"{plural(attached.stored, 'actual value')} stored.", icon="✅")
                    if attached.unknown_ids:
                        listed = ", ".join(str(prediction_id) for prediction_id in attached.unknown_ids[:20])
                        st.warning(
                            f"{plural(len(attached.unknown_ids), 'unknown prediction id')}, not stored: {listed}",
                            icon="⚠️",
                        )
                    if not attached.rejected.empty:
                        st.dataframe(attached.rejected, key="feedback_rejected", hide_index=True)
