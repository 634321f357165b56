"""Rules prepare_events(_variant): one harmonised events table (period, regions, outcome flags[, placebo])."""
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
    country = snakemake.params.country
    fields = country["boundaries"]
    source = snakemake.params.outcome_source
    checks = dict(getattr(snakemake.params, "checks", None) or {})  # config `checks`; absent: thresholds off
    outcome_events = (read_ucdp if source == "ucdp" else read_acled)(snakemake.input.outcome_events)
    admin3 = read_admin3(
        snakemake.input.admin3, fields["admin1_field"], fields["admin3_field"], admin2_field=fields["admin2_field"]
    )
    events = prepare_events(
        outcome_events if source == "acled" else None,
        read_qips(snakemake.input.qips, column_map=snakemake.params.qip_columns),
        read_iati(snakemake.input.iati),
        admin3,
        period_start=country["period"]["start"],
        period_end=country["period"]["end"],
        study_regions=country["study_regions"],
        admin1_field=fields["admin1_field"],
        outcomes=snakemake.params.outcomes,
        outcome_source=source,
        ucdp=outcome_events if source == "ucdp" else None,
        extent=country.get("extent"),
        max_share_outside_country=checks.get("max_share_outside_country"),
        max_share_dropped=checks.get("max_share_dropped"),
    )
    if snakemake.params.placebo:
        events = apply_placebo(
            events,
            snakemake.params.placebo,
            admin=admin3,
            admin1_column=fields["admin1_field"],
            study_regions=country["study_regions"],
            period_start=country["period"]["start"],
            period_end=country["period"]["end"],
        )
    write_events(events, snakemake.output.events)
    write_json(events.attrs.get("filter_counts", {}), snakemake.output.filter_log)
    if hasattr(snakemake.output, "filter_table"):  # results/{country}/events/filter_table.csv, for the report
        write_filter_table(events.attrs.get("filter_counts", {}), snakemake.output.filter_table)
    log.info("kept %d events; filters: %s", len(events), events.attrs.get("filter_counts"))
