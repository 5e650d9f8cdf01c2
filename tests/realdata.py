"""Facts of the real data in ../shared/data that several test modules check against."""

# Records per registry in the complete 2018-10-13 files (their headers and SOURCES.md agree).
EXPECTED_2018 = {
    "afrinic": 9_373,
    "apnic": 113_050,
    "arin": 142_799,
    "lacnic": 57_841,
    "ripencc": 189_189,
}
