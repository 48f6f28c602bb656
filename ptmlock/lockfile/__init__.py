"""The typed `ptm.lock`: its model, the one validating reader, the one atomic writer, the
canonical form and the one freshness rule (`lock_state`: does the lock match the manifest?).
May import the base layer and manifest/ (the manifest a lock is compared with); nothing above."""
