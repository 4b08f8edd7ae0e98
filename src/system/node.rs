//! The host collector behind `/metrics/node`: CPU, memory, load,
//! filesystems, disks, network, processes, boot time and uname, named, typed
//! and described exactly as node_exporter 1.5 names them so that existing
//! node_exporter dashboards and rules work unchanged.
//!
//! Values come from `sysinfo`, whose `System`, `Disks` and `Networks` are
//! kept between scrapes (refreshing is far cheaper than rebuilding). The
//! figures `sysinfo` lacks (CPU seconds per mode, process counts, buffers
//! and page cache, block-device bytes, free filesystem blocks) come from
//! `/proc` and `statvfs` on Linux only.

use super::text::MetricText;
use parking_lot::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use sysinfo::{Disks, Networks, System};

/// A family's name, help text, and how to read its value from a `T`.
type Family<T, V> = (&'static str, &'static str, fn(&T) -> V);

pub struct HostCollector {
    state: Mutex<HostState>,
}

struct HostState {
    system: Option<System>,
    disks: Option<Disks>,
    networks: Option<Networks>,
}

impl Default for HostCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl HostCollector {
    pub fn new() -> HostCollector {
        HostCollector {
            state: Mutex::new(HostState {
                system: System::new().ok(),
                disks: Disks::new_with_refreshed_list().ok(),
                networks: Networks::new_with_refreshed_list().ok(),
            }),
        }
    }

    /// One scrape's worth of node_exporter-compatible text.
    pub fn render(&self) -> String {
        let mut text = MetricText::default();
        let mut state = self.state.lock();
        #[cfg(target_os = "linux")]
        linux::kernel_figures(&mut text);
        if let Some(system) = state.system.as_mut() {
            memory(&mut text, system);
        }
        load(&mut text);
        if let Some(disks) = state.disks.as_mut() {
            filesystems(&mut text, disks);
        }
        if let Some(networks) = state.networks.as_mut() {
            network(&mut text, networks);
        }
        clock_and_identity(&mut text);
        text.finish()
    }
}

fn memory(text: &mut MetricText, system: &mut System) {
    system.refresh_memory();
    let fields = [
        ("MemTotal", system.total_memory()),
        ("MemFree", system.free_memory()),
        ("MemAvailable", system.available_memory()),
        ("SwapTotal", system.total_swap()),
        ("SwapFree", system.free_swap()),
    ];
    for (field, bytes) in fields {
        memory_field(text, field, bytes as f64);
    }
}

/// `node_memory_<field>_bytes`, with node_exporter's generic help text.
fn memory_field(text: &mut MetricText, field: &str, bytes: f64) {
    let name = format!("node_memory_{field}_bytes");
    text.single(
        &name,
        &format!("Memory information field {field}_bytes."),
        "gauge",
        bytes,
    );
}

fn load(text: &mut MetricText) {
    let Ok(load) = System::load_average() else { return };
    text.single("node_load1", "1m load average.", "gauge", load.one);
    text.single("node_load5", "5m load average.", "gauge", load.five);
    text.single("node_load15", "15m load average.", "gauge", load.fifteen);
}

/// node_exporter 1.5's default mount-point and filesystem-type exclusions,
/// applied on top of the (narrower) list `sysinfo` keeps.
fn is_ignored_filesystem(mount_point: &str, fs_type: &str) -> bool {
    static MOUNTS: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
        )
        .ok()
    });
    static TYPES: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|\
             mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
        )
        .ok()
    });
    let matches = |re: &Option<regex::Regex>, s: &str| re.as_ref().is_some_and(|re| re.is_match(s));
    matches(&MOUNTS, mount_point) || matches(&TYPES, fs_type)
}

struct Filesystem {
    device: String,
    fs_type: String,
    mount_point: String,
    size: f64,
    avail: f64,
    inodes: Option<Inodes>,
}

/// What `statvfs` adds to `sysinfo`'s figures.
struct Inodes {
    free_bytes: f64,
    files: f64,
    files_free: f64,
}

fn filesystems(text: &mut MetricText, disks: &mut Disks) {
    disks.refresh(true);
    let list: Vec<Filesystem> = disks
        .iter()
        .map(|disk| {
            let mount_point = disk.mount_point().to_string_lossy().into_owned();
            Filesystem {
                device: disk.name().to_string_lossy().into_owned(),
                fs_type: disk.file_system().to_string_lossy().into_owned(),
                inodes: statvfs(&mount_point),
                mount_point,
                size: disk.total_space() as f64,
                avail: disk.available_space() as f64,
            }
        })
        .filter(|fs| !is_ignored_filesystem(&fs.mount_point, &fs.fs_type))
        .collect();
    let families: [Family<Filesystem, Option<f64>>; 5] = [
        ("node_filesystem_size_bytes", "Filesystem size in bytes.", |fs| {
            Some(fs.size)
        }),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            |fs| fs.inodes.as_ref().map(|i| i.free_bytes),
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            |fs| Some(fs.avail),
        ),
        ("node_filesystem_files", "Filesystem total file nodes.", |fs| {
            fs.inodes.as_ref().map(|i| i.files)
        }),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            |fs| fs.inodes.as_ref().map(|i| i.files_free),
        ),
    ];
    for (name, help, value) in families {
        text.family(name, help, "gauge");
        for fs in &list {
            let labels = [
                ("device", fs.device.as_str()),
                ("fstype", &fs.fs_type),
                ("mountpoint", &fs.mount_point),
            ];
            if let Some(v) = value(fs) {
                text.sample(name, &labels, v);
            }
        }
    }
}

/// Free blocks including those reserved for root, and inode counts, which
/// `sysinfo` omits.
fn statvfs(mount_point: &str) -> Option<Inodes> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(mount_point).ok()?;
        Some(Inodes {
            free_bytes: stat.f_bfree as f64 * stat.f_frsize as f64,
            files: stat.f_files as f64,
            files_free: stat.f_ffree as f64,
        })
    }
    #[cfg(not(unix))]
    {
        let _ = mount_point;
        None
    }
}

fn network(text: &mut MetricText, networks: &mut Networks) {
    networks.refresh(true);
    let mut interfaces: Vec<(String, &sysinfo::NetworkData)> = networks
        .iter()
        .map(|(device, data)| (device.to_string_lossy().into_owned(), data))
        .collect();
    interfaces.sort_by(|a, b| a.0.cmp(&b.0));
    type Statistic = fn(&sysinfo::NetworkData) -> u64;
    let statistics: [(&str, Statistic); 6] = [
        ("receive_bytes", |d| d.total_received()),
        ("transmit_bytes", |d| d.total_transmitted()),
        ("receive_packets", |d| d.total_packets_received()),
        ("transmit_packets", |d| d.total_packets_transmitted()),
        ("receive_errs", |d| d.total_errors_on_received()),
        ("transmit_errs", |d| d.total_errors_on_transmitted()),
    ];
    for (statistic, value) in statistics {
        let name = format!("node_network_{statistic}_total");
        text.family(
            &name,
            &format!("Network device statistic {statistic}."),
            "counter",
        );
        for (device, data) in &interfaces {
            text.sample(&name, &[("device", device.as_str())], value(data) as f64);
        }
    }
}

fn clock_and_identity(text: &mut MetricText) {
    if let Ok(boot) = System::boot_time() {
        text.single(
            "node_boot_time_seconds",
            "Node boot time, in unixtime.",
            "gauge",
            boot as f64,
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    text.single(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        "gauge",
        now,
    );
    #[cfg(unix)]
    uname(text);
}

#[cfg(unix)]
fn uname(text: &mut MetricText) {
    let u = rustix::system::uname();
    let field = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
    let (domain, machine, node) = (field(u.domainname()), field(u.machine()), field(u.nodename()));
    let (release, sysname, version) = (field(u.release()), field(u.sysname()), field(u.version()));
    let name = "node_uname_info";
    text.family(
        name,
        "Labeled system information as provided by the uname system call.",
        "gauge",
    );
    let labels = [
        ("domainname", domain.as_str()),
        ("machine", &machine),
        ("nodename", &node),
        ("release", &release),
        ("sysname", &sysname),
        ("version", &version),
    ];
    text.sample(name, &labels, 1.0);
}

#[cfg(target_os = "linux")]
mod linux {
    use super::super::procfs::{self, CPU_MODES};
    use super::{memory_field, Family, MetricText};

    /// The figures read straight from `/proc`.
    pub fn kernel_figures(text: &mut MetricText) {
        let stats = procfs::parse_stat(&procfs::read("/proc/stat"));
        cpu_seconds(text, &stats.cpus);
        let counts = [
            (
                "node_procs_running",
                "Number of processes in runnable state.",
                "gauge",
                stats.procs_running,
            ),
            (
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O to complete.",
                "gauge",
                stats.procs_blocked,
            ),
            (
                "node_context_switches_total",
                "Total number of context switches.",
                "counter",
                stats.context_switches,
            ),
            (
                "node_intr_total",
                "Total number of interrupts serviced.",
                "counter",
                stats.interrupts,
            ),
            (
                "node_forks_total",
                "Total number of forks.",
                "counter",
                stats.forks,
            ),
        ];
        for (name, help, kind, value) in counts {
            if let Some(value) = value {
                text.single(name, help, kind, value);
            }
        }
        let meminfo = procfs::read("/proc/meminfo");
        for field in ["Buffers", "Cached"] {
            if let Some(bytes) = procfs::meminfo_bytes(&meminfo, field) {
                memory_field(text, field, bytes);
            }
        }
        disk_io(text, &procfs::parse_diskstats(&procfs::read("/proc/diskstats")));
    }

    fn cpu_seconds(text: &mut MetricText, cpus: &[procfs::CpuSeconds]) {
        let name = "node_cpu_seconds_total";
        text.family(name, "Seconds the CPUs spent in each mode.", "counter");
        for cpu in cpus {
            for (mode, seconds) in CPU_MODES.iter().zip(cpu.seconds) {
                text.sample(name, &[("cpu", cpu.cpu.as_str()), ("mode", mode)], seconds);
            }
        }
    }

    fn disk_io(text: &mut MetricText, disks: &[procfs::DiskIo]) {
        let families: [Family<procfs::DiskIo, f64>; 2] = [
            (
                "node_disk_read_bytes_total",
                "The total number of bytes read successfully.",
                |d| d.read_bytes,
            ),
            (
                "node_disk_written_bytes_total",
                "The total number of bytes written successfully.",
                |d| d.written_bytes,
            ),
        ];
        for (name, help, value) in families {
            text.family(name, help, "counter");
            for disk in disks {
                text.sample(name, &[("device", disk.device.as_str())], value(disk));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Entry, Format, Parser};
    use std::collections::HashSet;

    #[test]
    fn node_exporter_filesystem_exclusions() {
        assert!(is_ignored_filesystem("/dev/shm", "tmpfs"));
        assert!(is_ignored_filesystem("/var/lib/docker/overlay2/x", "ext4"));
        assert!(is_ignored_filesystem("/", "overlay"));
        assert!(!is_ignored_filesystem("/", "ext4"));
        assert!(!is_ignored_filesystem("/run/credentials", "tmpfs"));
        assert!(!is_ignored_filesystem("/devices", "ext4"));
    }

    #[test]
    fn render_is_valid_text_with_node_exporter_names() {
        let collector = HostCollector::new();
        let body = collector.render();
        let mut names = HashSet::new();
        for entry in Parser::new(body.as_bytes(), Format::PrometheusText) {
            match entry {
                Ok(Entry::Sample(s)) => {
                    names.insert(s.name.to_string());
                }
                Ok(_) => {}
                Err(e) => panic!("{e}\n{body}"),
            }
        }
        for expected in [
            "node_memory_MemTotal_bytes",
            "node_load1",
            "node_time_seconds",
            "node_boot_time_seconds",
        ] {
            assert!(names.contains(expected), "{expected} missing from\n{body}");
        }
        #[cfg(target_os = "linux")]
        for expected in [
            "node_cpu_seconds_total",
            "node_procs_running",
            "node_memory_Cached_bytes",
            "node_uname_info",
        ] {
            assert!(names.contains(expected), "{expected} missing from\n{body}");
        }
    }
}
