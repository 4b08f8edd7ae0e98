//! The GPU collector behind `/metrics/gpu`: per-GPU utilisation, memory,
//! temperature, power, clocks and ECC errors named as NVIDIA's DCGM exporter
//! names them (`DCGM_FI_DEV_GPU_UTIL`, `DCGM_FI_DEV_FB_USED`, ...) with its
//! `gpu`, `UUID`, `device`, `modelName` and `Hostname` labels, plus the GPU
//! memory of each process where NVML reports it, and
//! `sightline_gpu_collector_up`.
//!
//! Readings come through the [`GpuSource`] trait so the rendering is tested
//! without a GPU; [`NvmlSource`] is the real one (`nvml-wrapper`, which
//! loads `libnvidia-ml.so` at run time, so the binary needs no driver to
//! start). Without a driver the collector logs one info line at start and
//! then only reports `sightline_gpu_collector_up 0`: no retries, no errors.

use super::text::MetricText;
use nvml_wrapper::enum_wrappers::device::{Clock, EccCounter, MemoryError, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::{Device, Nvml};
use std::collections::BTreeMap;

/// One GPU at one moment; `None` where the driver has no such figure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuReading {
    pub index: u32,
    pub uuid: String,
    pub model: String,
    pub utilization_percent: Option<f64>,
    pub memory_used_bytes: Option<f64>,
    pub memory_free_bytes: Option<f64>,
    pub memory_total_bytes: Option<f64>,
    pub temperature_celsius: Option<f64>,
    pub power_watts: Option<f64>,
    pub sm_clock_mhz: Option<f64>,
    pub memory_clock_mhz: Option<f64>,
    pub ecc_single_bit_volatile: Option<f64>,
    pub ecc_double_bit_volatile: Option<f64>,
    /// GPU memory in bytes per process id.
    pub process_memory_bytes: BTreeMap<u32, f64>,
}

/// Where readings come from.
pub trait GpuSource: Send + Sync {
    fn read(&self) -> Result<Vec<GpuReading>, String>;
}

/// Readings from the NVIDIA driver through NVML.
pub struct NvmlSource {
    nvml: Nvml,
}

impl NvmlSource {
    pub fn open() -> Result<NvmlSource, String> {
        Nvml::init()
            .map(|nvml| NvmlSource { nvml })
            .map_err(|e| e.to_string())
    }
}

impl GpuSource for NvmlSource {
    fn read(&self) -> Result<Vec<GpuReading>, String> {
        let count = self.nvml.device_count().map_err(|e| e.to_string())?;
        (0..count)
            .map(|index| {
                let device = self.nvml.device_by_index(index).map_err(|e| e.to_string())?;
                Ok(read_device(index, &device))
            })
            .collect()
    }
}

const MIB: f64 = 1024.0 * 1024.0;

fn read_device(index: u32, device: &Device<'_>) -> GpuReading {
    let memory = device.memory_info().ok();
    let ecc = |kind| {
        device
            .total_ecc_errors(kind, EccCounter::Volatile)
            .ok()
            .map(|n| n as f64)
    };
    let clock = |kind| device.clock_info(kind).ok().map(f64::from);
    GpuReading {
        index,
        uuid: device.uuid().unwrap_or_default(),
        model: device.name().unwrap_or_default(),
        utilization_percent: device.utilization_rates().ok().map(|u| f64::from(u.gpu)),
        memory_used_bytes: memory.as_ref().map(|m| m.used as f64),
        memory_free_bytes: memory.as_ref().map(|m| m.free as f64),
        memory_total_bytes: memory.as_ref().map(|m| m.total as f64),
        temperature_celsius: device.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
        power_watts: device.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
        sm_clock_mhz: clock(Clock::SM),
        memory_clock_mhz: clock(Clock::Memory),
        ecc_single_bit_volatile: ecc(MemoryError::Corrected),
        ecc_double_bit_volatile: ecc(MemoryError::Uncorrected),
        process_memory_bytes: process_memory(device),
    }
}

/// Compute and graphics processes; a process in both lists counts once.
fn process_memory(device: &Device<'_>) -> BTreeMap<u32, f64> {
    let mut by_pid = BTreeMap::new();
    let lists = [
        device.running_compute_processes(),
        device.running_graphics_processes(),
    ];
    for process in lists.into_iter().flatten().flatten() {
        if let UsedGpuMemory::Used(bytes) = process.used_gpu_memory {
            let slot = by_pid.entry(process.pid).or_insert(0.0_f64);
            *slot = slot.max(bytes as f64);
        }
    }
    by_pid
}

pub struct GpuCollector {
    source: Option<Box<dyn GpuSource>>,
    hostname: String,
}

impl GpuCollector {
    /// Opens NVML once; without a driver, says so in one info line.
    pub fn from_driver() -> GpuCollector {
        let source: Option<Box<dyn GpuSource>> = match NvmlSource::open() {
            Ok(source) => Some(Box::new(source)),
            Err(reason) => {
                tracing::info!("GPU collector off: NVIDIA driver not available ({reason})");
                None
            }
        };
        GpuCollector::with_source(source)
    }

    pub fn with_source(source: Option<Box<dyn GpuSource>>) -> GpuCollector {
        GpuCollector {
            source,
            hostname: sysinfo::System::host_name().unwrap_or_default(),
        }
    }

    pub fn render(&self) -> String {
        let readings = match self.source.as_ref().map(|s| s.read()) {
            Some(Ok(readings)) => Some(readings),
            Some(Err(reason)) => {
                tracing::debug!("GPU collector could not read the driver: {reason}");
                None
            }
            None => None,
        };
        let mut text = MetricText::default();
        text.single(
            "sightline_gpu_collector_up",
            "Whether the GPU collector could read the NVIDIA driver (1) or not (0).",
            "gauge",
            if readings.is_some() { 1.0 } else { 0.0 },
        );
        if let Some(readings) = readings {
            self.render_readings(&mut text, &readings);
        }
        text.finish()
    }

    fn render_readings(&self, text: &mut MetricText, readings: &[GpuReading]) {
        for (name, help, kind, value) in DCGM_FIELDS {
            let present: Vec<(&GpuReading, f64)> =
                readings.iter().filter_map(|r| Some((r, value(r)?))).collect();
            if present.is_empty() {
                continue;
            }
            text.family(name, help, kind);
            for (reading, value) in present {
                self.sample(text, name, reading, &[], value);
            }
        }
        let name = "sightline_gpu_process_memory_used_bytes";
        if readings.iter().any(|r| !r.process_memory_bytes.is_empty()) {
            text.family(
                name,
                "GPU memory used by a process, in bytes, as NVML reports it.",
                "gauge",
            );
            for reading in readings {
                for (pid, bytes) in &reading.process_memory_bytes {
                    self.sample(text, name, reading, &[("pid", &pid.to_string())], *bytes);
                }
            }
        }
    }

    fn sample(&self, text: &mut MetricText, name: &str, r: &GpuReading, extra: &[(&str, &str)], value: f64) {
        let (gpu, device) = (r.index.to_string(), format!("nvidia{}", r.index));
        let mut labels = vec![
            ("gpu", gpu.as_str()),
            ("UUID", r.uuid.as_str()),
            ("device", device.as_str()),
            ("modelName", r.model.as_str()),
            ("Hostname", self.hostname.as_str()),
        ];
        labels.extend_from_slice(extra);
        text.sample(name, &labels, value);
    }
}

type Field = (
    &'static str,
    &'static str,
    &'static str,
    fn(&GpuReading) -> Option<f64>,
);

/// DCGM exporter's names, help texts and units (MiB for framebuffer memory).
const DCGM_FIELDS: [Field; 10] = [
    (
        "DCGM_FI_DEV_SM_CLOCK",
        "SM clock frequency (in MHz).",
        "gauge",
        |r| r.sm_clock_mhz,
    ),
    (
        "DCGM_FI_DEV_MEM_CLOCK",
        "Memory clock frequency (in MHz).",
        "gauge",
        |r| r.memory_clock_mhz,
    ),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", "gauge", |r| {
        r.temperature_celsius
    }),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "gauge", |r| {
        r.power_watts
    }),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "gauge", |r| {
        r.utilization_percent
    }),
    (
        "DCGM_FI_DEV_FB_FREE",
        "Framebuffer memory free (in MiB).",
        "gauge",
        |r| r.memory_free_bytes.map(|b| b / MIB),
    ),
    (
        "DCGM_FI_DEV_FB_USED",
        "Framebuffer memory used (in MiB).",
        "gauge",
        |r| r.memory_used_bytes.map(|b| b / MIB),
    ),
    (
        "DCGM_FI_DEV_FB_TOTAL",
        "Framebuffer memory total (in MiB).",
        "gauge",
        |r| r.memory_total_bytes.map(|b| b / MIB),
    ),
    (
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "Total number of single-bit volatile ECC errors.",
        "counter",
        |r| r.ecc_single_bit_volatile,
    ),
    (
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "Total number of double-bit volatile ECC errors.",
        "counter",
        |r| r.ecc_double_bit_volatile,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Entry, Format, Parser};

    struct FixedSource(Result<Vec<GpuReading>, String>);

    impl GpuSource for FixedSource {
        fn read(&self) -> Result<Vec<GpuReading>, String> {
            self.0.clone()
        }
    }

    fn h200(index: u32) -> GpuReading {
        GpuReading {
            index,
            uuid: format!("GPU-{index}abc"),
            model: "NVIDIA H200".to_string(),
            utilization_percent: Some(87.0),
            memory_used_bytes: Some(1024.0 * MIB),
            memory_free_bytes: Some(3072.0 * MIB),
            memory_total_bytes: Some(4096.0 * MIB),
            temperature_celsius: Some(61.0),
            power_watts: Some(312.5),
            sm_clock_mhz: Some(1980.0),
            memory_clock_mhz: Some(2619.0),
            ecc_single_bit_volatile: None,
            ecc_double_bit_volatile: Some(0.0),
            process_memory_bytes: BTreeMap::from([(4242, 512.0 * MIB)]),
        }
    }

    /// (name, labels, value)
    type ParsedSample = (String, Vec<(String, String)>, f64);

    fn samples(body: &str) -> Vec<ParsedSample> {
        Parser::new(body.as_bytes(), Format::PrometheusText)
            .filter_map(|e| match e {
                Ok(Entry::Sample(s)) => Some((
                    s.name.to_string(),
                    s.labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    s.value,
                )),
                Ok(_) => None,
                Err(e) => panic!("{e}\n{body}"),
            })
            .collect()
    }

    #[test]
    fn without_a_driver_only_up_zero() {
        let body = GpuCollector::with_source(None).render();
        let all = samples(&body);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].0.as_str(), all[0].2), ("sightline_gpu_collector_up", 0.0));
    }

    #[test]
    fn a_failing_read_is_up_zero() {
        let collector = GpuCollector::with_source(Some(Box::new(FixedSource(Err("gone".into())))));
        let all = samples(&collector.render());
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].2, 0.0);
    }

    #[test]
    fn readings_render_with_dcgm_names_labels_and_units() {
        let source = FixedSource(Ok(vec![h200(0), h200(1)]));
        let body = GpuCollector::with_source(Some(Box::new(source))).render();
        let all = samples(&body);
        let find = |name: &str, gpu: &str| {
            all.iter()
                .find(|(n, labels, _)| n == name && labels.iter().any(|(k, v)| k == "gpu" && v == gpu))
                .unwrap_or_else(|| panic!("{name} gpu={gpu} missing\n{body}"))
        };
        assert!(
            all.iter()
                .any(|(n, _, v)| n == "sightline_gpu_collector_up" && *v == 1.0),
            "{body}"
        );
        assert_eq!(find("DCGM_FI_DEV_FB_USED", "1").2, 1024.0);
        assert_eq!(find("DCGM_FI_DEV_FB_FREE", "0").2, 3072.0);
        assert_eq!(find("DCGM_FI_DEV_POWER_USAGE", "0").2, 312.5);
        assert_eq!(find("DCGM_FI_DEV_GPU_UTIL", "1").2, 87.0);
        let (_, labels, _) = find("DCGM_FI_DEV_GPU_TEMP", "1");
        let label = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(label("UUID"), Some("GPU-1abc"));
        assert_eq!(label("modelName"), Some("NVIDIA H200"));
        assert_eq!(label("device"), Some("nvidia1"));
        assert!(label("Hostname").is_some());
        assert!(
            !body.contains("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"),
            "absent figures are left out"
        );
        let (_, labels, bytes) = find("sightline_gpu_process_memory_used_bytes", "0");
        assert!(labels.contains(&("pid".to_string(), "4242".to_string())));
        assert_eq!(*bytes, 512.0 * MIB);
    }
}
