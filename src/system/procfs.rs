//! The few Linux `/proc` figures node_exporter reports that `sysinfo` does
//! not expose: CPU seconds per mode, process counts, context switches,
//! buffer and page-cache memory, and per-block-device I/O bytes.
//!
//! Parsing is separate from reading so it is tested on fixed text.

/// Jiffies per second in `/proc/stat`; Linux fixes USER_HZ at 100 for user
/// space (node_exporter's procfs library assumes the same).
const USER_HZ: f64 = 100.0;

/// The modes node_exporter reports, in `/proc/stat` column order.
pub const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// One `cpuN` line: the CPU's index and seconds per mode of [`CPU_MODES`].
#[derive(Debug, PartialEq)]
pub struct CpuSeconds {
    pub cpu: String,
    pub seconds: [f64; 8],
}

#[derive(Debug, Default, PartialEq)]
pub struct KernelStats {
    pub cpus: Vec<CpuSeconds>,
    pub procs_running: Option<f64>,
    pub procs_blocked: Option<f64>,
    pub context_switches: Option<f64>,
    pub interrupts: Option<f64>,
    pub forks: Option<f64>,
}

/// Parses `/proc/stat`.
pub fn parse_stat(text: &str) -> KernelStats {
    let mut stats = KernelStats::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        let first = fields.clone().next().and_then(|v| v.parse::<f64>().ok());
        match key {
            "procs_running" => stats.procs_running = first,
            "procs_blocked" => stats.procs_blocked = first,
            "ctxt" => stats.context_switches = first,
            "intr" => stats.interrupts = first,
            "processes" => stats.forks = first,
            _ => {
                if let Some(cpu) = key.strip_prefix("cpu").filter(|n| !n.is_empty()) {
                    stats.cpus.extend(cpu_seconds(cpu, fields));
                }
            }
        }
    }
    stats
}

fn cpu_seconds<'a>(cpu: &str, fields: impl Iterator<Item = &'a str>) -> Option<CpuSeconds> {
    let mut seconds = [0.0; 8];
    let mut seen = 0;
    for (slot, field) in seconds.iter_mut().zip(fields) {
        *slot = field.parse::<f64>().ok()? / USER_HZ;
        seen += 1;
    }
    (seen >= 4).then(|| CpuSeconds {
        cpu: cpu.to_string(),
        seconds,
    })
}

/// A `/proc/meminfo` field in bytes (the file says kB, meaning KiB).
pub fn meminfo_bytes(text: &str, field: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let mut parts = rest.split_ascii_whitespace();
        let value = parts.next()?.parse::<f64>().ok()?;
        Some(if parts.next() == Some("kB") {
            value * 1024.0
        } else {
            value
        })
    })
}

/// Bytes read and written by one block device.
#[derive(Debug, PartialEq)]
pub struct DiskIo {
    pub device: String,
    pub read_bytes: f64,
    pub written_bytes: f64,
}

/// Parses `/proc/diskstats`, skipping the devices node_exporter skips by
/// default: RAM disks, loops, floppies and partitions.
pub fn parse_diskstats(text: &str) -> Vec<DiskIo> {
    const SECTOR_BYTES: f64 = 512.0;
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let device = *fields.get(2)?;
            if is_ignored_block_device(device) {
                return None;
            }
            let sectors_read = fields.get(5)?.parse::<f64>().ok()?;
            let sectors_written = fields.get(9)?.parse::<f64>().ok()?;
            Some(DiskIo {
                device: device.to_string(),
                read_bytes: sectors_read * SECTOR_BYTES,
                written_bytes: sectors_written * SECTOR_BYTES,
            })
        })
        .collect()
}

/// node_exporter 1.5's default `--collector.diskstats.device-exclude`:
/// `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`.
fn is_ignored_block_device(device: &str) -> bool {
    static EXCLUDE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$").ok()
    });
    EXCLUDE.as_ref().is_some_and(|re| re.is_match(device))
}

/// Reads a `/proc` file; an unreadable file is treated as empty so a
/// missing figure is left out rather than failing the whole scrape.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 2 30 4000 5 6 7 8 0 0\ncpu0 50 1 15 2000 2 3 3 4 0 0\n\
cpu1 50 1 15 2000 3 3 4 4 0 0\nintr 12345 0 1\nctxt 999\nbtime 1700000000\nprocesses 4242\n\
procs_running 3\nprocs_blocked 1\nsoftirq 1 2 3\n";

    #[test]
    fn stat_gives_per_cpu_mode_seconds_and_counts() {
        let stats = parse_stat(STAT);
        assert_eq!(stats.cpus.len(), 2);
        assert_eq!(stats.cpus[1].cpu, "1");
        assert_eq!(
            stats.cpus[1].seconds,
            [0.5, 0.01, 0.15, 20.0, 0.03, 0.03, 0.04, 0.04]
        );
        assert_eq!(stats.procs_running, Some(3.0));
        assert_eq!(stats.procs_blocked, Some(1.0));
        assert_eq!(stats.context_switches, Some(999.0));
        assert_eq!(stats.interrupts, Some(12345.0));
        assert_eq!(stats.forks, Some(4242.0));
    }

    #[test]
    fn meminfo_fields_are_bytes() {
        let text = "MemTotal:       16000 kB\nBuffers:          100 kB\nCached:          2000 kB\nHugePages_Total:       0\n";
        assert_eq!(meminfo_bytes(text, "Buffers"), Some(102_400.0));
        assert_eq!(meminfo_bytes(text, "Cached"), Some(2_048_000.0));
        assert_eq!(meminfo_bytes(text, "HugePages_Total"), Some(0.0));
        assert_eq!(meminfo_bytes(text, "Mem"), None);
    }

    #[test]
    fn diskstats_skip_partitions_and_loops() {
        let text =
            "   8       0 sda 100 0 2000 0 50 0 4000 0 0 0 0\n   8       1 sda1 1 0 8 0 1 0 8 0 0 0 0\n\
   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0\n 259       0 nvme0n1 1 0 10 0 1 0 20 0 0 0 0\n\
 259       1 nvme0n1p1 1 0 10 0 1 0 20 0 0 0 0\n 253       0 vda 5 0 6 0 7 0 8 0 0 0 0\n";
        let devices: Vec<_> = parse_diskstats(text).into_iter().map(|d| d.device).collect();
        assert_eq!(devices, ["sda", "nvme0n1", "vda"]);
        assert_eq!(parse_diskstats(text)[0].read_bytes, 2000.0 * 512.0);
        assert_eq!(parse_diskstats(text)[0].written_bytes, 4000.0 * 512.0);
    }
}
