//! `vigil export flink`: resolves the job exactly as `vigil run` does, turns
//! the export flags into [`FlinkOptions`], and prints the script. Owns only
//! that wiring; the translation lives in [`crate::export`].

use super::args::FlinkExportArgs;
use crate::error::{Error, Result};
use crate::export::flink::{FlinkOptions, FlinkSource};
use crate::job::Job;

/// Prints the Flink SQL script for the job on stdout; exit 0, or a usage error.
pub fn flink(args: &FlinkExportArgs) -> Result<i32> {
    let job = Job::from_args(&args.inputs, &args.job)?;
    let options = flink_options(args)?;
    let layouts = crate::export::inspect_inputs(&job, &options)?;
    let script = crate::export::flink::script(&job, &options, &layouts)?;
    crate::sink::console::print(&script)?;
    Ok(0)
}

fn flink_options(args: &FlinkExportArgs) -> Result<FlinkOptions> {
    let kafka_flag = if args.kafka_brokers.is_some() {
        Some("--kafka-brokers")
    } else if args.kafka_topic.is_some() {
        Some("--kafka-topic")
    } else {
        None
    };
    let source = match args.flink_source.as_deref() {
        None | Some("files") => {
            if let Some(flag) = kafka_flag {
                return Err(Error::usage(format!(
                    "{flag} goes with --flink-source kafka"
                )));
            }
            FlinkSource::Files
        }
        Some("kafka") => match (&args.kafka_brokers, &args.kafka_topic) {
            (Some(brokers), Some(topic)) if !brokers.is_empty() && !topic.is_empty() => {
                FlinkSource::Kafka {
                    brokers: brokers.clone(),
                    topic: topic.clone(),
                }
            }
            _ => {
                return Err(Error::usage(
                    "--flink-source kafka needs --kafka-brokers HOSTS and --kafka-topic TOPIC",
                ))
            }
        },
        Some(other) => {
            return Err(Error::usage(format!(
                "--flink-source: unknown source '{other}'; expected files or kafka"
            )))
        }
    };
    Ok(FlinkOptions { source })
}
