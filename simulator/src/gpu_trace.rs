//! Reading the GPU cluster trace (`cluster-trace-gpu-v2023`): a node list
//! and a pod list as CSV. A pod arrives at its creation time and runs for
//! its lifetime in the trace (deletion minus creation); `num_gpu` whole GPUs,
//! or a share of one (`gpu_milli` below 1000).

use crate::driver::SimJob;
use rota_events::{NodeRegistered, Resources};

/// Bytes in a mebibyte.
const MIB: u64 = 1 << 20;

/// Pods that could not be read, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    pub malformed: usize,
    /// Deleted before they were created.
    pub negative_lifetime: usize,
}

/// Reads the node list: `sn,cpu_milli,memory_mib,gpu,model`.
pub fn parse_nodes(text: &str) -> Result<Vec<NodeRegistered>, String> {
    let mut nodes = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if line.trim().is_empty() {
            continue;
        }
        let parse = |i: usize| -> Result<u64, String> {
            fields.get(i).and_then(|f| f.parse().ok()).ok_or_else(|| {
                format!(
                    "node list line {}: field {} is not a number: {line:?}",
                    number + 1,
                    i + 1
                )
            })
        };
        nodes.push(NodeRegistered {
            node: fields[0].to_string(),
            capacity: Resources {
                cpu_milli: parse(1)?,
                memory_bytes: parse(2)? * MIB,
                gpus: parse(3)? as u32,
                gpu_milli: 0,
            },
            gpu_model: fields
                .get(4)
                .filter(|m| !m.is_empty())
                .map(|m| m.to_string()),
            ..Default::default()
        });
    }
    Ok(nodes)
}

/// Reads the pod list: `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,
/// qos,pod_phase,creation_time,deletion_time,scheduled_time` (seconds).
pub fn parse_pods(text: &str) -> (Vec<SimJob>, Skipped) {
    let mut pods = Vec::new();
    let mut skipped = Skipped::default();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let (
            Some(cpu_milli),
            Some(memory_mib),
            Some(num_gpu),
            Some(gpu_milli),
            Some(created_s),
            Some(deleted_s),
        ) = (
            number(1),
            number(2),
            number(3),
            number(4),
            number(8),
            number(9),
        )
        else {
            skipped.malformed += 1;
            continue;
        };
        if deleted_s < created_s {
            skipped.negative_lifetime += 1;
            continue;
        }
        let shared = num_gpu == 1 && gpu_milli > 0 && gpu_milli < 1000;
        pods.push(SimJob {
            id: fields[0].to_string(),
            tenant: fields
                .get(6)
                .filter(|q| !q.is_empty())
                .unwrap_or(&"default")
                .to_string(),
            submit_ms: created_s * 1000,
            run_ms: (deleted_s - created_s) * 1000,
            request: Resources {
                cpu_milli: cpu_milli.max(1),
                memory_bytes: (memory_mib * MIB).max(1),
                gpus: if shared { 0 } else { num_gpu as u32 },
                gpu_milli: if shared { gpu_milli as u32 } else { 0 },
            },
            walltime_s: None,
            class: None,
        });
    }
    (pods, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nodes_and_pods_with_whole_and_shared_gpus() {
        let nodes =
            parse_nodes("sn,cpu_milli,memory_mib,gpu,model\nn0,32000,1024,2,T4\nn1,8000,512,0,\n")
                .unwrap();
        assert_eq!(nodes[0].capacity.gpus, 2);
        assert_eq!(nodes[0].gpu_model.as_deref(), Some("T4"));
        assert_eq!(nodes[1].gpu_model, None);
        let (pods, skipped) = parse_pods(
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
             p0,1000,10,1,460,,LS,Running,5,65,5\n\
             p1,1000,10,4,1000,,BE,Running,10,20,\n\
             p2,1000,10,0,0,,LS,Running,30,20,\n\
             p3,oops\n",
        );
        assert_eq!(pods.len(), 2);
        assert_eq!(
            (
                pods[0].request.gpus,
                pods[0].request.gpu_milli,
                pods[0].run_ms
            ),
            (0, 460, 60_000)
        );
        assert_eq!(
            (
                pods[1].request.gpus,
                pods[1].request.gpu_milli,
                pods[1].tenant.as_str()
            ),
            (4, 0, "BE")
        );
        assert_eq!(
            skipped,
            Skipped {
                malformed: 1,
                negative_lifetime: 1
            }
        );
    }
}
