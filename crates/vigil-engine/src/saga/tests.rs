//! The generic saga properties: order, persistence before progress, resumption after a crash
//! at every step, and steps that run twice.

use super::*;
use serde_json::json;
use std::sync::Mutex;
use vigil_metrics::Metrics;

/// Step timings nobody reads.
fn timer() -> FlowMetrics {
    Metrics::new().flow("test")
}

/// An in-memory flow log; the store-backed one is tested with the same properties in vigil-store.
#[derive(Default)]
struct MemLog {
    records: Mutex<Vec<StepRecord>>,
    /// Fail the save of the n-th record (simulates an engine crash at that point).
    crash_at_save: Mutex<Option<usize>>,
    saves: Mutex<usize>,
}

#[async_trait]
impl FlowLog for MemLog {
    async fn load(&self) -> Result<Vec<StepRecord>, LogError> {
        Ok(self.records.lock().unwrap().clone())
    }
    async fn save(&self, record: &StepRecord) -> Result<(), LogError> {
        let mut saves = self.saves.lock().unwrap();
        *saves += 1;
        if *self.crash_at_save.lock().unwrap() == Some(*saves) {
            return Err(LogError::LeaseLost);
        }
        let mut records = self.records.lock().unwrap();
        match records.iter_mut().find(|r| r.name == record.name) {
            Some(r) => *r = record.clone(),
            None => records.push(record.clone()),
        }
        Ok(())
    }
}

/// Counts its runs in the shared context; its output is one more than the step before it
/// (whose output it needs), so outputs prove what each step read.
struct Counting(&'static str, &'static [&'static str]);

#[async_trait]
impl Step<Mutex<Vec<String>>> for Counting {
    fn name(&self) -> &str {
        self.0
    }
    fn needs(&self) -> &'static [&'static str] {
        self.1
    }
    async fn run(&self, ctx: &Mutex<Vec<String>>, done: &Outputs) -> Result<Outcome, StepError> {
        ctx.lock().unwrap().push(self.0.to_owned());
        let before = match self.1.first() {
            Some(step) => Output::<u32>::of(step).get(done)? + 1,
            None => 0,
        };
        Output::<u32>::of(self.0).put(&before)
    }
}

fn flow() -> Vec<Box<dyn Step<Mutex<Vec<String>>>>> {
    vec![
        Box::new(Counting("a", &[])),
        Box::new(Counting("b", &["a"])),
        Box::new(Counting("c", &["b"])),
    ]
}

#[tokio::test]
async fn runs_steps_in_order_and_persists_outputs() {
    let log = MemLog::default();
    let ran = Mutex::new(Vec::new());
    assert_eq!(
        run_flow(&flow(), &ran, &log, &timer()).await.unwrap(),
        Ending::Finished
    );
    assert_eq!(*ran.lock().unwrap(), ["a", "b", "c"]);
    let records = log.records.lock().unwrap();
    let outputs: Vec<_> = records
        .iter()
        .map(|r| (r.name.as_str(), r.state, r.output.clone()))
        .collect();
    assert_eq!(
        outputs,
        [
            ("a", StepState::Success, json!(0)),
            ("b", StepState::Success, json!(1)),
            ("c", StepState::Success, json!(2))
        ]
    );
}

#[tokio::test]
async fn a_crash_at_any_save_resumes_without_redoing_completed_steps() {
    // Each step saves twice (running, success): crash at each of the six saves in turn.
    for crash in 1..=6 {
        let log = MemLog::default();
        *log.crash_at_save.lock().unwrap() = Some(crash);
        let ran = Mutex::new(Vec::new());
        assert!(run_flow(&flow(), &ran, &log, &timer()).await.is_err());
        *log.crash_at_save.lock().unwrap() = None;
        assert_eq!(
            run_flow(&flow(), &ran, &log, &timer()).await.unwrap(),
            Ending::Finished
        );
        let ran = ran.lock().unwrap();
        // A step completed before the crash never runs again; the interrupted one may run twice.
        for name in ["a", "b", "c"] {
            let n = ran.iter().filter(|r| r.as_str() == name).count();
            assert!((1..=2).contains(&n), "crash {crash}: {name} ran {n} times");
        }
        let outputs: Vec<_> = log
            .records
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.output.clone())
            .collect();
        assert_eq!(outputs, [json!(0), json!(1), json!(2)], "crash {crash}");
    }
}

/// A step named `ending` that ends the flow with `Err` or a stop.
struct Ends(fn() -> Result<Outcome, StepError>);

#[async_trait]
impl Step<Mutex<Vec<String>>> for Ends {
    fn name(&self) -> &str {
        "ending"
    }
    async fn run(&self, _: &Mutex<Vec<String>>, _: &Outputs) -> Result<Outcome, StepError> {
        (self.0)()
    }
}

/// Runs `a`, `middle`, `c` on a fresh log: how the flow ended, the log, and the steps that ran.
async fn around(middle: Ends) -> (Result<Ending, FlowError>, MemLog, Vec<String>) {
    around_timed(middle, &timer()).await
}

async fn around_timed(
    middle: Ends,
    metrics: &FlowMetrics,
) -> (Result<Ending, FlowError>, MemLog, Vec<String>) {
    let steps: Vec<Box<dyn Step<Mutex<Vec<String>>>>> = vec![
        Box::new(Counting("a", &[])),
        Box::new(middle),
        Box::new(Counting("c", &[])),
    ];
    let log = MemLog::default();
    let ran = Mutex::new(Vec::new());
    let ended = run_flow(&steps, &ran, &log, metrics).await;
    (ended, log, ran.into_inner().unwrap())
}

/// How many runs of `step` ended with `outcome`, from the exposition.
fn timed(metrics: &Metrics, step: &str, outcome: &str) -> f64 {
    let series = format!(
        "vigil_step_duration_seconds_count{{flow=\"test\",step=\"{step}\",outcome=\"{outcome}\"}}"
    );
    metrics.sample(&series).unwrap_or(0.0)
}

#[tokio::test]
async fn every_step_that_runs_is_timed_by_its_outcome_and_a_resumed_flow_skips_the_rest() {
    let metrics = Metrics::new();
    let flow_metrics = metrics.flow("test");
    let (failed, ..) = around_timed(Ends(|| Err(StepError::refused("no"))), &flow_metrics).await;
    assert!(failed.is_err());
    let stop = || Ok(Outcome::Stop(Ending::Finished, "done".into()));
    let (stopped, ..) = around_timed(Ends(stop), &flow_metrics).await;
    assert_eq!(stopped.unwrap(), Ending::Finished);
    assert_eq!(timed(&metrics, "a", "success"), 2.0);
    assert_eq!(timed(&metrics, "ending", "failure"), 1.0);
    assert_eq!(timed(&metrics, "ending", "stopped"), 1.0);
    assert_eq!(timed(&metrics, "c", "success"), 0.0);

    // A crash at b's first save; the resumed flow runs (and times) only b and c.
    let log = MemLog::default();
    *log.crash_at_save.lock().unwrap() = Some(3);
    let ran = Mutex::new(Vec::new());
    let other = Metrics::new();
    assert!(run_flow(&flow(), &ran, &log, &other.flow("test"))
        .await
        .is_err());
    *log.crash_at_save.lock().unwrap() = None;
    run_flow(&flow(), &ran, &log, &other.flow("test"))
        .await
        .unwrap();
    assert_eq!(timed(&other, "a", "success"), 1.0);
    assert_eq!(timed(&other, "b", "success"), 1.0);
    assert_eq!(timed(&other, "c", "success"), 1.0);
}

#[tokio::test]
async fn a_failing_step_stops_the_flow_with_its_message_logged() {
    let (ended, log, ran) = around(Ends(|| Err(StepError::refused("nova said no")))).await;
    let err = ended.unwrap_err();
    assert!(matches!(err, FlowError::Step { ref step, .. } if step == "ending"));
    assert_eq!(ran, ["a"]);
    let last = log.records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.state, last.message.as_str()),
        (StepState::Failure, "nova said no")
    );
}

#[tokio::test]
async fn a_stop_ends_the_flow_early() {
    let stop = || Ok(Outcome::Stop(Ending::Finished, "no hosts".into()));
    let (ended, _, ran) = around(Ends(stop)).await;
    assert_eq!(ended.unwrap(), Ending::Finished);
    assert_eq!(ran, ["a"]);
}

/// A flow whose steps' needs are not met is refused before it runs; a step that runs without
/// the output it reads fails instead of reading a default.
#[tokio::test]
async fn needs_are_checked_before_a_flow_runs_and_a_missing_output_is_an_error() {
    type Steps = Vec<Box<dyn Step<Mutex<Vec<String>>>>>;
    let cases: Vec<(&str, Steps, Result<(), FlowDefError>)> = vec![
        ("complete", flow(), Ok(())),
        (
            "need dropped",
            vec![
                Box::new(Counting("a", &[])),
                Box::new(Counting("c", &["b"])),
            ],
            Err(FlowDefError::MissingNeed {
                step: "c".into(),
                needs: "b",
            }),
        ),
        (
            "need after",
            vec![
                Box::new(Counting("b", &["a"])),
                Box::new(Counting("a", &[])),
            ],
            Err(FlowDefError::MissingNeed {
                step: "b".into(),
                needs: "a",
            }),
        ),
        (
            "twice",
            vec![Box::new(Counting("a", &[])), Box::new(Counting("a", &[]))],
            Err(FlowDefError::Duplicate("a".into())),
        ),
    ];
    for (case, steps, want) in cases {
        assert_eq!(check_flow(&steps), want, "{case}");
    }
    let unchecked: Steps = vec![Box::new(Counting("c", &["b"]))];
    let err = run_flow(
        &unchecked,
        &Mutex::new(Vec::new()),
        &MemLog::default(),
        &timer(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            FlowError::Step {
                source: StepError::MissingOutput { step: "b" },
                ..
            }
        ),
        "{err:?}"
    );
}
