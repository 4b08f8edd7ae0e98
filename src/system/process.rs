//! The server's own process metrics, named as the Go client names them
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read
//! with `sysinfo` for this process only and appended to `/metrics`.

use super::text::MetricText;
use parking_lot::Mutex;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

pub struct ProcessCollector {
    pid: Option<Pid>,
    system: Mutex<Option<System>>,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector {
            pid: sysinfo::get_current_pid().ok(),
            system: Mutex::new(System::new().ok()),
        }
    }
}

impl ProcessCollector {
    /// Appends the process families to `text`; nothing if the process
    /// cannot be read (an unsupported platform).
    pub fn render(&self, text: &mut MetricText) {
        let Some(pid) = self.pid else { return };
        let mut guard = self.system.lock();
        let Some(system) = guard.as_mut() else { return };
        let refresh = ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory()
            .without_tasks();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, refresh);
        let Some(process) = system.process(pid) else {
            return;
        };
        text.single(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            "counter",
            process.accumulated_cpu_time() as f64 / 1000.0,
        );
        if let Some(open) = process.open_files() {
            text.single(
                "process_open_fds",
                "Number of open file descriptors.",
                "gauge",
                open as f64,
            );
        }
        if let Some(max) = process.open_files_limit() {
            text.single(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                "gauge",
                max as f64,
            );
        }
        let memory = [
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                process.virtual_memory(),
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                process.memory(),
            ),
        ];
        for (name, help, bytes) in memory {
            text.single(name, help, "gauge", bytes as f64);
        }
        text.single(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            "gauge",
            process.start_time() as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Entry, Format, Parser};

    #[test]
    fn reports_this_process_with_go_client_names() {
        let collector = ProcessCollector::default();
        let mut text = MetricText::default();
        collector.render(&mut text);
        let body = text.finish();
        let samples: Vec<(String, f64)> = Parser::new(body.as_bytes(), Format::PrometheusText)
            .filter_map(|e| match e {
                Ok(Entry::Sample(s)) => Some((s.name.to_string(), s.value)),
                _ => None,
            })
            .collect();
        let value = |name: &str| samples.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert!(
            value("process_resident_memory_bytes").is_some_and(|v| v > 1e6),
            "{body}"
        );
        assert!(
            value("process_virtual_memory_bytes").is_some_and(|v| v > 1e6),
            "{body}"
        );
        assert!(
            value("process_cpu_seconds_total").is_some_and(|v| v >= 0.0),
            "{body}"
        );
        assert!(
            value("process_start_time_seconds").is_some_and(|v| v > 1.6e9),
            "{body}"
        );
        #[cfg(target_os = "linux")]
        {
            assert!(value("process_open_fds").is_some_and(|v| v >= 3.0), "{body}");
            assert!(value("process_max_fds").is_some_and(|v| v >= 64.0), "{body}");
        }
    }
}
