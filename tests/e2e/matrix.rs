//! Matrix end to end, against a real Synapse.
