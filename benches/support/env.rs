//! Reading the benches' options from environment variables (`BENCH_*`, `SOAK_*`): an empty
//! value counts as unset, so that `VAR= cargo bench` falls back to the default.

/// The variable's value, if it is set and not empty.
pub fn value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The variable as a number, or `default` when unset; a value that does not parse stops
/// the bench rather than run it with a setting nobody asked for.
pub fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    value(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}
