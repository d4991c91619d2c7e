//! The audit beside a built-in profile.
