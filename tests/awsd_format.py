"""The AWSD incident export's header and its HXL hashtag row (the second line of the CSV), as
the Aid Worker Security Database distributes it (observed in public AWSD exports; see
tests/unit/test_retrieve_figure1.py for the sources). Shared by the unit and workflow tests."""

AWSD_HEADER = ["Incident ID", "Year", "Month", "Day", "Country Code", "Country", "Region", "District", "City", "UN",
               "INGO", "ICRC", "NRCS and IFRC", "NNGO", "Other", "Nationals killed", "Nationals wounded",
               "Nationals kidnapped", "Total nationals", "Internationals killed", "Internationals wounded",
               "Internationals kidnapped", "Total internationals", "Total killed", "Total wounded",
               "Total kidnapped", "Total affected", "Gender Male", "Gender Female", "Gender Unknown",
               "Means of attack", "Attack context", "Location", "Latitude", "Longitude", "Motive", "Actor type",
               "Actor name", "Details", "Verified", "Source"]
AWSD_HXL = ["#event+id", "#date+year", "#date+month", "#date+day", "#country+code", "#country+name", "#adm1+name",
            "#adm2+name", "#loc+name"] + [""] * (len(AWSD_HEADER) - 9)
