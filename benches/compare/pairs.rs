//! Like for like (issue 14): which server's figures are divided by which. A server that writes
//! an access line per request is compared with nginx (sendfile off) writing its buffered
//! access log, a quiet one with nginx with `access_log off`, so that the cost of logging is
//! on both sides of a ratio or on neither.
//!
//! The results JSON records each server's access log (`info.access_log`: `on`, `off` or
//! `none`); a JSON written before issue 14 has none, and then every server ran without one.

use crate::report::{Report, NGINX, NGINX_LOG_OFF, OURS, OURS_LOG_OFF, PEER};

impl Report {
    /// `server`'s access log as the run recorded it: `on`, `off` or `none` (it has none).
    pub(crate) fn access_log(&self, server: &str) -> &str {
        match self.info.get("access_log").and_then(|m| m.get(server)) {
            Some(serde_json::Value::String(log)) => log,
            // Before issue 14 no server logged; tower-http's peer never does.
            _ if server == PEER => "none",
            _ => "off",
        }
    }

    /// Whether `server` wrote an access line per request.
    pub(crate) fn logs(&self, server: &str) -> bool {
        self.access_log(server) == "on"
    }

    /// `server` as the tables and the chart name it: with its access log, so that the log-on
    /// and log-off servers read apart (`tower-range (log on)`).
    pub(crate) fn label(&self, server: &str) -> String {
        match self.access_log(server) {
            "on" => format!("{server} (log on)"),
            "off" => format!("{server} (log off)"),
            _ => format!("{server} (no log)"),
        }
    }

    /// The first of `names` that ran with its access log on (`logs`) or not.
    fn ran_with(&self, names: &[&str], logs: bool) -> Option<String> {
        let servers = self.servers();
        names
            .iter()
            .find(|name| servers.iter().any(|s| s == *name) && self.logs(name) == logs)
            .map(|name| name.to_string())
    }

    /// nginx with sendfile off that ran with the access log on (`logs`) or off.
    pub(crate) fn nginx_with(&self, logs: bool) -> Option<String> {
        self.ran_with(&[NGINX, NGINX_LOG_OFF], logs)
    }

    /// tower-range (library defaults, no variant) that ran with the access log on or off.
    pub(crate) fn ours_with(&self, logs: bool) -> Option<String> {
        self.ran_with(&[OURS, OURS_LOG_OFF], logs)
    }

    /// The base of `server`'s like-for-like ratios: nginx with sendfile off and the same
    /// access log (none counts as off), if that ran.
    pub(crate) fn like_base(&self, server: &str) -> Option<String> {
        self.nginx_with(self.logs(server))
    }
}
