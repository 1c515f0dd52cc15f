"""Personal data, encrypted per person and forgettable (crypto-shredding).

keyring.py (TEMPSTRONG_PERSONAL_DATA_KEYS: the keys that wrap every person's data key),
data_keys.py (a person's data key: seals and opens their values, bound to aggregate and field),
personal_data.py (what the service layer uses: new keys, sealing a profile, revealing values with
the live key), erasure.py (destroying a person's key, by command or when the delay has passed).
"""
