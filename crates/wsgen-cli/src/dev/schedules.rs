//! Scheduled functions: each rule's `rate(...)` or `cron(...)` (or `--schedule-interval`)
//! invokes its target with EventBridge's "Scheduled Event".

use super::*;

use wsgen::schedule::Expression;

/// Invokes each scheduled function on its rule's rate (or `interval`) with an
/// EventBridge "Scheduled Event", as the rule's target would be.
pub(super) fn start_schedules(
    ui: &Ui,
    opts: &DevOptions,
    lambda: &Arc<LambdaService>,
    schedules: Vec<model::DevSchedule>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for s in schedules {
        let rate = s.parsed.as_ref().and_then(Expression::rate);
        let mut timing = match (opts.schedule_interval.or(rate), s.parsed.clone()) {
            (Some(every), _) => Timing::every(every),
            (None, Some(Expression::Cron(cron))) => Timing::Cron { cron, last: 0 },
            (None, _) => {
                ui.warn(&format!(
                    "{} ({}) is not a schedule wsgen dev can run; pass --schedule-interval to run it",
                    s.rule, s.expression
                ));
                continue;
            }
        };
        let when = match &timing {
            Timing::Every(tick) => format!("every {}", humantime(tick.period())),
            Timing::Cron { cron, .. } => match cron.next_after(unix_now().as_secs() as i64) {
                Some(next) => format!(
                    "on {} (next {})",
                    s.expression,
                    gateway::iso_time(std::time::UNIX_EPOCH + Duration::from_secs(next as u64))
                ),
                None => {
                    ui.note(&format!(
                        "{} ({}) has no more times to run",
                        s.rule, s.expression
                    ));
                    continue;
                }
            },
        };
        if !opts.json {
            ui.info(&format!("  schedule {}: {} {when}", s.rule, s.function));
        }
        let (lambda, json) = (lambda.clone(), opts.json);
        tasks.push(tokio::spawn(async move {
            while timing.wait().await {
                let started = std::time::Instant::now();
                let event = match &s.input {
                    Some(input) => serde_json::from_str(input).unwrap_or(Value::String(input.clone())),
                    None => scheduled_event(&s.rule),
                };
                let result = lambda.invoke(&s.function, &event).await;
                let (status, detail) = match &result {
                    Ok(_) => (200, String::new()),
                    Err(e) => (500, e.to_string()),
                };
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if json {
                    crate::dev::emit(serde_json::json!({"type": "schedule", "rule": s.rule, "function": s.function, "status": status, "ms": ms, "detail": detail}));
                } else {
                    eprintln!("schedule {} -> {} {status} {ms:.1} ms {detail}", s.rule, s.function);
                }
            }
        }));
    }
    tasks
}

/// When a schedule runs.
pub(super) enum Timing {
    /// Every period (a `rate(...)`, or `--schedule-interval`), the first one period
    /// from now.
    Every(tokio::time::Interval),
    /// At a cron expression's UTC times; `last` is the last time run.
    Cron {
        cron: wsgen::schedule::Cron,
        last: i64,
    },
}

impl Timing {
    fn every(period: Duration) -> Timing {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Timing::Every(tick)
    }

    /// Waits until the next run; false when there is none.
    async fn wait(&mut self) -> bool {
        match self {
            Timing::Every(tick) => {
                tick.tick().await;
                true
            }
            Timing::Cron { cron, last } => {
                // From the last time run at least: a wake-up a hair before it (the wall
                // clock and the timer disagree slightly) must not run it twice.
                let now = unix_now();
                let Some(next) = cron.next_after((now.as_secs() as i64).max(*last)) else {
                    return false;
                };
                tokio::time::sleep(Duration::from_secs(next as u64).saturating_sub(now)).await;
                *last = next;
                true
            }
        }
    }
}

/// EventBridge's event for a scheduled rule.
pub(super) fn scheduled_event(rule: &str) -> Value {
    let now = unix_now();
    serde_json::json!({
        "version": "0",
        "id": format!("{:08x}-0000-4000-8000-{:012x}", now.as_secs() as u32, now.subsec_nanos()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": model::LOCAL_ACCOUNT,
        "time": gateway::iso_time(std::time::SystemTime::now()),
        "region": model::LOCAL_REGION,
        "resources": [format!("arn:aws:events:{}:{}:rule/{rule}", model::LOCAL_REGION, model::LOCAL_ACCOUNT)],
        "detail": {},
    })
}

pub(super) fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
