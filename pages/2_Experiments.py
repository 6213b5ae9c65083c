"""Experiments: find the runs worth promoting, see how params drive metrics, compare, register the best."""

import streamlit as st

from core.csv_export import csv_text
from core.experiments import charts as experiment_charts
from core.experiments.comparison import (
    HOLDOUT_ARTIFACT,
    comparison_table,
    leaderboard,
    load_holdouts,
    lower_is_better,
    most_logged_metric,
    selected,
)
from core.experiments.registration import (
    AlreadyRegistered,
    CannotRegister,
    already_registered,
    elsewhere,
    existing_versions,
    register_run,
    registrable,
    run_summary,
    token_required,
    with_models_first,
)
from core.experiments.runs import (
    TRAIN_HINT,
    InvalidFilter,
    RunFilters,
    default_experiment,
    display_table,
    experiment_url,
    list_experiments,
    load_runs,
    model_experiment_id,
    narrow,
    run_url,
    runs_page,
    sort_table,
    version_url,
)
from core.identity import os_user
from core.mlflow_io import RegistryUnavailable
from core.registry.metric_names import direction
from core.settings import mask_url
from ui.actor import actor_input
from ui.errors import action
from ui.formats import TIMESTAMP_COLUMN_FORMAT, code, metric_table_column, plain
from ui.page import page_setup
from ui.resources import prediction_log_sessions

PAGE_SIZES = (25, 50, 100, 200)
MAX_SIDE_BY_SIDE = 6
NO_METRIC = "(none)"

with action("Showing the Experiments page"):
    console = page_setup("Experiments", "🧪")
    settings = console.settings
    st.title("Experiments")
    st.caption("Filter runs, see how params drive metrics, compare a few side by side, register the best model.")

    with action("Listing the MLflow experiments", stop=True):
        try:
            experiment_list = list_experiments(settings)
        except RegistryUnavailable as error:
            st.error(f"MLflow unreachable. {plain(error)}", icon="🚫")
            st.stop()
    if not experiment_list:
        st.info(
            "No MLflow experiment yet. Log runs from your training code (`mlflow.set_experiment(...)`, then "
            f"`mlflow.start_run()`) to the tracking server at {code(mask_url(settings.tracking_uri))}; "
            f"or try Loupe's demo trainer: `{TRAIN_HINT}`.",
            icon="ℹ️",
        )
        st.stop()

    names = {experiment.experiment_id: experiment.name for experiment in experiment_list}
    experiment_id = st.selectbox(
        "Experiment",
        list(names),
        index=default_experiment(
            experiment_list,
            name=settings.experiment_name,
            # Only the first render's choice matters (the widget keeps it): no registry calls on reruns.
            preferred_id=None if "experiment" in st.session_state else model_experiment_id(settings),
        ),
        format_func=names.get,
        key="experiment",
    )
    if settings.experiment_name not in names.values():
        st.caption(f"The configured experiment {code(settings.experiment_name)} does not exist yet.")
    experiment_link = experiment_url(settings, experiment_id=experiment_id)
    if experiment_link:
        st.markdown(f"[Open experiment {plain(names[experiment_id])} in the MLflow UI]({experiment_link})")

    with st.expander("Filters", expanded=True, key="filters"):
        search_column, estimator_column = st.columns([3, 2])
        search = search_column.text_input(
            "MLflow search",
            key="search",
            placeholder="metrics.rmse < 50 and params.alpha = '0.1'",
            help="MLflow's run search syntax: clauses joined by `and`; params and tags compare as quoted strings.",
        )
        metric_column, threshold_column, from_column, to_column = st.columns(4)
        started_from = from_column.date_input("Started on or after", value=None, key="started_from")
        started_to = to_column.date_input("Started on or before", value=None, key="started_to")

    with action(f"Searching the runs of {names[experiment_id]}", stop=True):
        try:
            with st.spinner("Searching runs…"):
                try:
                    runs = load_runs(
                        settings,
                        experiment_id=experiment_id,
                        filters=RunFilters(search=search, started_from=started_from, started_to=started_to),
                    )
                except InvalidFilter as error:
                    # Say what is wrong beside the search, and keep every control and tab: the runs are shown
                    # without the search (the dates and the quick filters still apply) until it is fixed.
                    search_column.error(plain(error), icon="⚠️")
                    search_column.caption("Showing the runs without this search until it is fixed.")
                    runs = load_runs(
                        settings,
                        experiment_id=experiment_id,
                        filters=RunFilters(started_from=started_from, started_to=started_to),
                    )
        except RegistryUnavailable as error:
            st.error(f"MLflow unreachable. {plain(error)}", icon="🚫")
            st.stop()

    if runs.unfiltered_empty:
        st.info(
            f"Experiment **{plain(names[experiment_id])}** has no runs yet. Log runs into it from your training code "
            f"({code(f'mlflow.set_experiment({names[experiment_id]!r})')}), or try Loupe's demo trainer: `{TRAIN_HINT}`.",
            icon="ℹ️",
        )
        st.stop()

    chosen_estimators = estimator_column.multiselect("Estimator", list(runs.estimators), key="estimators")
    threshold_metric = metric_column.selectbox("Metric threshold", [NO_METRIC, *runs.metrics], key="threshold_metric")
    threshold = None
    if threshold_metric != NO_METRIC:
        bound = "at most" if lower_is_better(threshold_metric) else "at least"
        threshold = threshold_column.number_input(f"{plain(threshold_metric)} {bound}", value=None, key="threshold")
    runs = narrow(runs, estimators=chosen_estimators, metric=threshold_metric, threshold=threshold)
    # The table, charts and leaderboard start on the holdout figure the most runs logged (a team's runs rarely
    # say "rmse"; a classifier's say accuracy_score or roc_auc), sorted the way that metric points.
    primary_metric = most_logged_metric(runs)
    metric_index = list(runs.metrics).index(primary_metric) if primary_metric else 0

    if runs.empty:
        st.warning("No run matches these filters. Loosen them (clear the search, widen the dates).", icon="🔍")
        st.stop()
    if runs.truncated:
        st.warning(f"Showing the newest {len(runs.frame):,} runs only: narrow the search to see older ones.")

    labels = runs.labels()

    runs_tab, compare_tab, leaderboard_tab, register_tab = st.tabs(
        ["Runs", "Compare", "Leaderboard", "Register"], key="experiments_tabs"
    )

    with runs_tab:
        param_columns = st.multiselect(
            "Param columns",
            list(runs.params),
            default=[name for name in runs.key_params() if name in runs.params],
            key=f"param_columns_{experiment_id}",
        )
        table = display_table(runs, params=param_columns, settings=settings)
        sortable = [column for column in table.columns if column != "mlflow"]
        sort_column, order_column, size_column, page_column = st.columns([3, 2, 1, 1])
        sort_by = sort_column.selectbox(
            "Sort by", sortable, index=sortable.index(primary_metric or "started"), key="sort_by"
        )
        descending = order_column.toggle(
            "Descending", value=not lower_is_better(primary_metric or "started"), key="descending"
        )
        page_size = size_column.selectbox("Rows per page", PAGE_SIZES, index=1, key="page_size")
        page_number = page_column.number_input("Page", min_value=1, value=1, step=1, key="page")
        ordered = sort_table(table, sort_by=sort_by, descending=descending)
        page = runs_page(ordered, page=page_number, page_size=page_size)
        st.caption(f"{page.total:,} runs · page {page.page} of {page.pages} · sorted by {plain(sort_by)}")
        column_config = {
            "started": st.column_config.DatetimeColumn("started", format=TIMESTAMP_COLUMN_FORMAT),
            "model": st.column_config.CheckboxColumn("model", help="The run logged a model that can be registered"),
            "mlflow": st.column_config.LinkColumn("mlflow", display_text="open"),
            **{name: metric_table_column(name, page.table[name], help=direction(name)) for name in runs.metrics},
        }
        st.dataframe(
            page.table,
            hide_index=True,
            column_config=column_config,
            height=min(38 + 35 * len(page.table), 740),
            key="runs_table",
        )
        st.download_button(
            "Download these runs (CSV)",
            data=csv_text(ordered, index=True),
            file_name=f"runs-{names[experiment_id]}.csv",
            mime="text/csv",
            key="download_runs",
        )
        ordered_ids = list(ordered.index)

    with compare_tab:
        compared = st.multiselect(
            "Runs to compare",
            ordered_ids,
            format_func=labels.get,
            key=f"compare_{experiment_id}",
            help="Listed in the table's sort order.",
        )
        if len(compared) < 2:
            st.info("Pick two or more runs to compare their metrics, params and predictions.", icon="👆")
        else:
            figures = experiment_charts.metric_bar_figures(runs, run_ids=compared)
            chart_columns = st.columns(min(2, len(figures)) or 1)  # two a row: bars, labels and values readable
            for index, (metric, figure) in enumerate(figures.items()):
                chart_columns[index % len(chart_columns)].plotly_chart(figure, key=f"bars_{metric}")

            st.subheader("Params and metrics")
            only_differences = st.toggle("Only differences", value=False, key="only_differences")
            st.dataframe(
                comparison_table(runs, run_ids=compared, only_differences=only_differences),
                key="comparison_table",
            )

            st.subheader("How params drive a metric")
            use_all = st.toggle(
                f"Plot all {len(runs.frame):,} filtered runs, not only the compared ones", key="plot_all"
            )
            plotted = runs.frame if use_all else selected(runs, compared)
            axis_column, params_column = st.columns([1, 3])
            parcoords_metric = axis_column.selectbox(
                "Metric",
                list(runs.metrics),
                index=metric_index,
                key="parcoords_metric",
            )
            parcoords_params = params_column.multiselect(
                "Params", list(runs.params), default=runs.key_params(), key=f"parcoords_params_{experiment_id}"
            )
            if parcoords_metric and parcoords_params:
                st.plotly_chart(
                    experiment_charts.parallel_coordinates_figure(
                        plotted, params=parcoords_params, metric=parcoords_metric
                    ),
                    key="parcoords",
                )
            param_column, metric_column = st.columns(2)
            scatter_default = runs.key_params()[0] if runs.key_params() else None
            scatter_param = param_column.selectbox(
                "Param (x)",
                list(runs.params),
                index=list(runs.params).index(scatter_default) if scatter_default else 0,
                key=f"scatter_param_{experiment_id}",
            )
            scatter_metric = metric_column.selectbox(
                "Metric (y)",
                list(runs.metrics),
                index=metric_index,
                key="scatter_metric",
            )
            if scatter_param and scatter_metric:
                st.plotly_chart(
                    experiment_charts.param_metric_scatter(runs, plotted, param=scatter_param, metric=scatter_metric),
                    key="scatter",
                )

            st.subheader("Holdout predictions")
            if len(compared) > MAX_SIDE_BY_SIDE:
                st.caption(f"The first {MAX_SIDE_BY_SIDE} compared runs are shown.")
            holdouts = []
            with action("Reading the compared runs' holdout predictions"):
                try:
                    holdouts = load_holdouts(settings, runs, run_ids=compared[:MAX_SIDE_BY_SIDE])
                except RegistryUnavailable as error:
                    st.error(f"Could not read the runs' artifacts. {plain(error)}", icon="🚫")
            unplotted = [holdout.label for holdout in holdouts if not (holdout.holds_numbers or holdout.holds_labels)]
            if unplotted:
                st.caption(
                    f"No holdout plot for {plain(', '.join(unplotted))}: no {HOLDOUT_ARTIFACT} artifact with "
                    "predictions (param/metric-only runs have none)."
                )
            with action("Drawing the compared runs' holdout predictions"):
                if any(holdout.holds_labels for holdout in holdouts):
                    st.plotly_chart(experiment_charts.confusion_grid(holdouts), key="holdout_confusion")
                if any(holdout.holds_numbers for holdout in holdouts):
                    st.plotly_chart(experiment_charts.predicted_vs_actual_grid(holdouts), key="predicted_vs_actual")

    with leaderboard_tab:
        if not runs.metrics:
            st.info("These runs logged no metrics, so there is nothing to rank.", icon="ℹ️")
        else:
            board_metric = st.selectbox(
                "Rank by",
                list(runs.metrics),
                index=metric_index,
                key="leaderboard_metric",
            )
            winner = "lowest" if lower_is_better(board_metric) else "highest"
            st.caption(f"The best run of each estimator: {winner} {plain(board_metric)} wins.")
            board = leaderboard(runs, metric=board_metric)
            st.dataframe(
                board,
                column_config={
                    name: metric_table_column(name, board.get(name, []), help=direction(name)) for name in runs.metrics
                },
                key="leaderboard",
            )

    with register_tab:
        feedback = st.session_state.pop("register_feedback", None)
        if feedback:
            st.success(feedback, icon="✅")
        refusal = st.session_state.pop("register_refusal", None)
        if refusal:
            st.warning(refusal, icon="🛡️")
        register_id = st.selectbox(
            "Run",
            with_models_first(runs, run_ids=ordered_ids),
            format_func=labels.get,
            key=f"register_run_{experiment_id}",
            help="Runs that logged a model first, each group in the table's order.",
        )
        st.caption(plain(run_summary(runs, run_id=register_id)))
        url = run_url(settings, experiment_id=experiment_id, run_id=register_id)
        if url:
            st.markdown(f"[Open this run in the MLflow UI]({url})")
        why_not = registrable(runs, run_id=register_id)
        if why_not:
            st.warning(plain(why_not), icon="🚫")
        registered_elsewhere = elsewhere(settings, run_id=register_id)
        if registered_elsewhere:
            st.info(plain(registered_elsewhere), icon="ℹ️")
        registered_here = existing_versions(settings, run_id=register_id)
        again = False
        if registered_here:
            # Registering the same run again makes a second version of the same model: name the existing
            # one(s) and ask, rather than quietly making another.
            links = [(version, version_url(settings, version=version)) for version in registered_here]
            linked = " · ".join(f"[version {version} in the MLflow UI]({link})" for version, link in links if link)
            st.warning(
                plain(already_registered(settings, run_id=register_id, versions=registered_here))
                + (f"\n\n{linked}" if linked else ""),
                icon="♻️",
            )
            again = st.checkbox(
                f"Yes, register it again as another version of {plain(settings.model_name)}",
                key="register_again",
            )
        set_challenger = st.checkbox(
            "Also point `challenger` at the new version",
            key="register_challenger",
            help="Goes through the Registry's pre-flight checks; a failing check leaves `challenger` where it is.",
        )
        actor = actor_input("Your name (for the alias ledger)", key="register_actor", value=os_user())
        token = None
        if set_challenger and token_required(settings):
            token = st.text_input("Admin token", type="password", key="register_token")
        if st.button(
            f"Register as a new version of {plain(settings.model_name)}",
            key="register",
            disabled=why_not is not None or (bool(registered_here) and not again),
            help=plain(why_not)
            if why_not
            else ("Already registered: tick the box above to make another version." if registered_here else None),
            type="primary",
        ):
            with action(f"Registering run {labels[register_id]} as a new version of {settings.model_name}"):
                try:
                    with st.spinner("Registering…"):
                        registration = register_run(
                            settings,
                            run_id=register_id,
                            alias="challenger" if set_challenger else None,
                            estimator=str(runs.frame.at[register_id, "estimator"]),
                            actor=actor,
                            token=token,
                            sessions=prediction_log_sessions(settings.database_url),
                            again=again,
                        )
                except AlreadyRegistered as error:  # registered meanwhile (another tab, another person)
                    st.warning(plain(error), icon="♻️")
                except CannotRegister as error:
                    st.error(plain(error), icon="🚫")
                else:
                    message = (
                        f"Registered {plain(labels[register_id])} as version {registration.version} "
                        f"of {plain(registration.model_name)}."
                    )
                    new_link = version_url(settings, version=registration.version)
                    if new_link:
                        message += f" [Open version {registration.version} in the MLflow UI]({new_link})."
                    if registration.alias:
                        was = f"version {registration.previous_version}" if registration.previous_version else "nothing"
                        message += (
                            f" `{registration.alias}` → version {registration.version} (was {was}); "
                            "recorded in the ledger."
                        )
                    st.session_state["register_feedback"] = message
                    if registration.alias_refused:
                        st.session_state["register_refusal"] = (
                            f"`challenger` stayed where it was: {plain(registration.alias_refused)} "
                            "Review the version on the Registry page."
                        )
                    st.rerun()
