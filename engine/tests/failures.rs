//! A failing operator fails the whole job, on every shard count, in bounded time, with an
//! error that names the operator and the shard; every shard thread is joined.

mod common;

use std::time::Duration;

use spate::prelude::*;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_panicking_map_fails_the_job_and_names_the_operator_and_shard() {
    for shards in common::SHARDS {
        let err = common::within(LIMIT, move || {
            let env = Env::new().shards(shards).batch_size(16);
            env.generate(Some(100_000), |s| s)
                .key_by(|s| *s)
                .as_stream()
                .map(|s| {
                    if s == 4_321 {
                        panic!("record 4321 is cursed");
                    }
                    s
                })
                .collect();
            env.execute().expect_err("the job must fail")
        });
        match err {
            SpateError::OperatorPanicked {
                operator,
                shard,
                message,
            } => {
                assert!(operator.starts_with("map at"), "operator named: {operator}");
                assert!(
                    operator.contains("failures.rs"),
                    "names the user's line: {operator}"
                );
                assert!(shard < shards);
                assert!(message.contains("cursed"));
            }
            other => panic!("wrong error on {shards} shards: {other}"),
        }
    }
}

#[test]
fn an_error_from_a_process_function_fails_the_job_with_its_message() {
    for shards in common::SHARDS {
        let err = common::within(LIMIT, move || {
            let env = Env::new().shards(shards).batch_size(7);
            env.generate(Some(10_000), |s| s)
                .rebalance()
                .process(|v: u64, ctx: &mut ProcessContext<'_, u64>| {
                    if v == 777 {
                        return Err(format!("value {v} is not allowed").into());
                    }
                    ctx.collect(v);
                    Ok(())
                })
                .collect();
            env.execute().expect_err("the job must fail")
        });
        match err {
            SpateError::OperatorFailed {
                operator, message, ..
            } => {
                assert!(operator.starts_with("process at"), "{operator}");
                assert_eq!(message, "value 777 is not allowed");
            }
            other => panic!("wrong error on {shards} shards: {other}"),
        }
    }
}

#[test]
fn a_failure_stops_endless_sources_on_the_other_shards() {
    // The generator never ends; the failure is on one shard only and the other shards'
    // chains touch no channel, so only the job-wide cancel can stop them.
    for shards in common::SHARDS {
        let err = common::within(LIMIT, move || {
            let env = Env::new().shards(shards);
            env.generate(None, |s| s)
                .map(|s| {
                    if s == 1_000_003 {
                        panic!("boom");
                    }
                    s
                })
                .filter(|_| false)
                .collect();
            env.execute().expect_err("the job must fail")
        });
        assert!(matches!(err, SpateError::OperatorPanicked { .. }), "{err}");
    }
}

#[test]
fn a_failing_sink_and_a_failing_keyed_function_fail_the_job() {
    #[derive(Clone)]
    struct Picky;
    impl spate::io::Sink<u64> for Picky {
        fn write(&mut self, v: u64, _ts: Option<i64>) -> Result<(), UserError> {
            if v == 99 {
                Err("sink rejects 99".into())
            } else {
                Ok(())
            }
        }
    }
    #[derive(Clone)]
    struct Explodes;
    impl KeyedProcessFunction<u64, u64, u64> for Explodes {
        fn process_element(
            &mut self,
            v: u64,
            ctx: &mut KeyedContext<'_, u64, u64>,
        ) -> Result<(), UserError> {
            ctx.register_event_time_timer(i64::MAX);
            ctx.collect(v);
            Ok(())
        }
        fn on_timer(
            &mut self,
            _ts: i64,
            ctx: &mut KeyedContext<'_, u64, u64>,
        ) -> Result<(), UserError> {
            if *ctx.current_key() == 5 {
                panic!("timer of key 5");
            }
            Ok(())
        }
    }
    for shards in common::SHARDS {
        let err = common::within(LIMIT, move || {
            let env = Env::new().shards(shards);
            env.generate(Some(1_000), |s| s).add_sink("picky", Picky);
            env.execute().expect_err("the job must fail")
        });
        assert!(
            matches!(&err, SpateError::OperatorFailed { operator, .. } if operator == "picky"),
            "{err}"
        );
        let err = common::within(LIMIT, move || {
            let env = Env::new().shards(shards);
            env.generate(Some(1_000), |s| s % 10)
                .key_by(|s| *s)
                .process(Explodes)
                .collect();
            env.execute().expect_err("the job must fail")
        });
        assert!(
            matches!(&err, SpateError::OperatorPanicked { operator, message, .. } if operator.starts_with("keyed_process") && message.contains("key 5")),
            "{err}"
        );
    }
}

#[test]
fn bad_configuration_is_reported_before_anything_runs() {
    let env = Env::new().shards(0);
    env.from_iter(vec![1]).collect();
    assert!(matches!(env.execute(), Err(SpateError::Config(_))));

    let env = Env::new().shards(4).max_parallelism(2);
    env.from_iter(vec![1]).collect();
    assert!(matches!(env.execute(), Err(SpateError::Config(m)) if m.contains("max_parallelism")));

    let env = Env::new().shards(2);
    let tag = OutputTag::<i32>::new("nothing");
    env.from_iter(vec![1])
        .key_by(|x| *x)
        .as_stream()
        .side_output(&tag)
        .collect();
    let err = env.execute().expect_err("side output of an exchange");
    assert!(
        matches!(&err, SpateError::Config(m) if m.contains("key_by")),
        "{err}"
    );
}
