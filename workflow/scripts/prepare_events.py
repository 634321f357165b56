"""Rule prepare_events: one harmonised events table (period, regions, outcome flags[, placebo])."""
from qipstudy.atomic import write_json
from qipstudy.prepare import (
    prepare_events,
    read_acled,
    read_admin3,
    read_iati,
    read_qips,
    read_ucdp,
    write_events,
    write_filter_table,
)
from qipstudy.robustness import apply_placebo
from qipstudy.runlog import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    fields = params.admin_fields
    source = params.outcome_source
    outcome_events = (read_ucdp if source == "ucdp" else read_acled)(snakemake.input.outcome_events)
    admin3 = read_admin3(
        snakemake.input.admin3, fields["admin1_field"], fields["admin3_field"], admin2_field=fields["admin2_field"]
    )
    events = prepare_events(
        outcome_events if source == "acled" else None,
        read_qips(snakemake.input.qips),
        read_iati(snakemake.input.iati),
        admin3,
        period_start=params.period["start"],
        period_end=params.period["end"],
        study_regions=params.study_regions,
        admin1_field=fields["admin1_field"],
        outcomes=params.outcomes,
        outcome_source=source,
        ucdp=outcome_events if source == "ucdp" else None,
        extent=params.extent,
        max_share_outside_country=params.checks["max_share_outside_country"],
        max_share_dropped=params.checks["max_share_dropped"],
    )
    if params.placebo:
        events = apply_placebo(
            events,
            params.placebo,
            admin=admin3,
            admin1_column=fields["admin1_field"],
            study_regions=params.study_regions,
            period_start=params.period["start"],
            period_end=params.period["end"],
        )
    events.attrs["spec"] = {"outcome_source": source, "placebo": dict(params.placebo)}
    write_events(events, snakemake.output.events)
    write_json(events.attrs.get("filter_counts", {}), snakemake.output.filter_log)
    write_filter_table(events.attrs.get("filter_counts", {}), snakemake.output.filter_table)
    log.info("kept %d events; filters: %s", len(events), events.attrs.get("filter_counts"))
