//! wsgen dev's embedded DynamoDB: the same operations, through the official SDK,
//! against it and against moto's DynamoDB, with the same results; and what only it
//! does (persistence across restarts and crashes, TTL expiry, clear refusals).

use crate::engine::moto;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, Get,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType,
    Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, Select,
    TransactGetItem, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use wsgen_cli::dev::dynamodb::Embedded;

/// The embedded engine on a free port, with its data in `dir`.
async fn embedded(dir: &std::path::Path) -> Embedded {
    Embedded::start(dir, 0).await.unwrap()
}

/// The items of `table` in the data of `dir` (read with the engine, while no `wsgen
/// dev` runs on it).
pub fn stored_items(dir: &std::path::Path, table: &str) -> Vec<Value> {
    let db = dynoxide::Database::new(
        &dir.join(wsgen_cli::dev::dynamodb::DATA_FILE)
            .to_string_lossy(),
    )
    .unwrap();
    let request = serde_json::from_value(json!({"TableName": table})).unwrap();
    let scan = db.scan(request).unwrap();
    scan.items
        .unwrap_or_default()
        .into_iter()
        .map(|i| serde_json::to_value(i).unwrap())
        .collect()
}

async fn client(endpoint: &str, region: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(wsgen_cli::cloud::aws::https_client())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await;
    Client::new(&config)
}

/// An attribute value as comparable JSON (sets sorted).
fn av(v: &AttributeValue) -> Value {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        json!(v)
    };
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(s) => json!({ "SS": sorted(s) }),
        AttributeValue::Ns(s) => json!({ "NS": sorted(s) }),
        AttributeValue::B(b) => json!({ "B": aws_smithy_types::base64::encode(b.as_ref()) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(av).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item(m) }),
        other => json!({ "?": format!("{other:?}") }),
    }
}

fn item(m: &HashMap<String, AttributeValue>) -> Value {
    let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, av(v))).collect();
    json!(sorted)
}

fn items(list: &[HashMap<String, AttributeValue>], sort: bool) -> Value {
    let mut v: Vec<Value> = list.iter().map(item).collect();
    if sort {
        v.sort_by_key(|x| x.to_string());
    }
    json!(v)
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.into())
}

/// The error code of a failed call, or the result as JSON.
fn outcome<T, E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
    ok: impl FnOnce(T) -> Value,
) -> Value {
    match r {
        Ok(v) => ok(v),
        Err(e) => {
            let code = e
                .as_service_error()
                .and_then(|s| s.code())
                .map(str::to_string)
                .unwrap_or_else(|| format!("{e:?}"));
            json!({ "error": code })
        }
    }
}

fn key_schema(hash: &str, range: Option<&str>) -> Vec<KeySchemaElement> {
    let mut k = vec![KeySchemaElement::builder()
        .attribute_name(hash)
        .key_type(KeyType::Hash)
        .build()
        .unwrap()];
    if let Some(r) = range {
        k.push(
            KeySchemaElement::builder()
                .attribute_name(r)
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        );
    }
    k
}

fn attr(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .unwrap()
}

/// The conformance script: every operation handlers use, with the results that
/// should not depend on the implementation (errors by code, scans as sets).
async fn script(c: &Client) -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = Vec::new();
    let r = c
        .create_table()
        .table_name("Things")
        .set_key_schema(Some(key_schema("pk", Some("sk"))))
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::N))
        .attribute_definitions(attr("grp", ScalarAttributeType::S))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byGroup")
                .set_key_schema(Some(key_schema("grp", Some("sk"))))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    out.push((
        "create",
        outcome(r, |o| {
            let d = o.table_description().unwrap();
            json!([
                d.table_name(),
                d.table_status().map(|s| s.as_str().to_string())
            ])
        }),
    ));
    let r = c
        .create_table()
        .table_name("Events")
        .set_key_schema(Some(key_schema("room", Some("at"))))
        .attribute_definitions(attr("room", ScalarAttributeType::S))
        .attribute_definitions(attr("at", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    out.push(("create events", outcome(r, |_| json!("ok"))));
    let r = c
        .create_table()
        .table_name("Things")
        .set_key_schema(Some(key_schema("pk", None)))
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    out.push(("create again", outcome(r, |_| json!("ok"))));

    for i in 1..=6 {
        let mut req = c
            .put_item()
            .table_name("Things")
            .item("pk", s("a"))
            .item("sk", n(&i.to_string()))
            .item("grp", s(if i % 2 == 0 { "even" } else { "odd" }))
            .item("data", s(&format!("item {i}")))
            .item(
                "info",
                AttributeValue::M(HashMap::from([
                    ("color".to_string(), s("blue")),
                    ("size".to_string(), n("10")),
                ])),
            )
            .item("tags", AttributeValue::L(vec![s("x"), s("y"), s("z")]))
            .item("strs", AttributeValue::Ss(vec!["p".into(), "q".into()]))
            .item("nums", AttributeValue::Ns(vec!["1".into(), "2".into()]));
        if i == 6 {
            req = req.item("flag", AttributeValue::Bool(true));
        }
        out.push(("put", outcome(req.send().await, |_| json!("ok"))));
    }
    for (room, at) in [
        ("lobby", "2024-01-01T10:00"),
        ("lobby", "2024-02-01T10:00"),
        ("lobby", "2025-01-01T10:00"),
        ("other", "2024-01-05T10:00"),
    ] {
        let r = c
            .put_item()
            .table_name("Events")
            .item("room", s(room))
            .item("at", s(at))
            .send()
            .await;
        out.push(("put event", outcome(r, |_| json!("ok"))));
    }
    let r = c
        .put_item()
        .table_name("Things")
        .item("pk", s("a"))
        .item("sk", n("1"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    out.push(("put if absent", outcome(r, |_| json!("ok"))));
    let r = c
        .put_item()
        .table_name("Things")
        .item("pk", s("b"))
        .item("sk", n("1"))
        .item("data", s("b1"))
        .condition_expression("attribute_not_exists(pk)")
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    out.push((
        "put new if absent",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));
    let r = c
        .put_item()
        .table_name("Things")
        .item("pk", s("b"))
        .item("sk", n("1"))
        .item("data", s("b1 again"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    out.push(("put over", outcome(r, |o| json!(o.attributes().map(item)))));
    let r = c
        .put_item()
        .table_name("Things")
        .item("sk", n("1"))
        .send()
        .await;
    out.push(("put without key", outcome(r, |_| json!("ok"))));
    let r = c
        .put_item()
        .table_name("Things")
        .item("pk", n("1"))
        .item("sk", n("1"))
        .send()
        .await;
    out.push(("put wrong key type", outcome(r, |_| json!("ok"))));
    let r = c
        .put_item()
        .table_name("Missing")
        .item("pk", s("a"))
        .send()
        .await;
    out.push(("put missing table", outcome(r, |_| json!("ok"))));

    // GetItem, with projections.
    let get = |pk: &str, sk: &str| {
        c.get_item()
            .table_name("Things")
            .key("pk", s(pk))
            .key("sk", n(sk))
    };
    out.push((
        "get",
        outcome(get("a", "1").send().await, |o| json!(o.item().map(item))),
    ));
    out.push((
        "get absent",
        outcome(get("a", "99").send().await, |o| json!(o.item().map(item))),
    ));
    let r = get("a", "2")
        .projection_expression("info.color, tags[1], #d")
        .expression_attribute_names("#d", "data")
        .send()
        .await;
    out.push(("get projected", outcome(r, |o| json!(o.item().map(item)))));
    let r = c
        .get_item()
        .table_name("Things")
        .key("pk", s("a"))
        .send()
        .await;
    out.push(("get partial key", outcome(r, |_| json!("ok"))));
    let r = get("a", "2").projection_expression("name").send().await;
    out.push(("get reserved word", outcome(r, |_| json!("ok"))));
    let r = get("a", "2")
        .projection_expression("pk")
        .expression_attribute_names("#unused", "x")
        .send()
        .await;
    out.push(("get unused name", outcome(r, |_| json!("ok"))));

    // UpdateItem: SET with arithmetic and if_not_exists, REMOVE, ADD, DELETE.
    let update = |pk: &str, sk: &str| {
        c.update_item()
            .table_name("Things")
            .key("pk", s(pk))
            .key("sk", n(sk))
    };
    let r = update("a", "1")
        .update_expression("SET hits = if_not_exists(hits, :zero) + :one, info.color = :red REMOVE #d, tags[0] ADD nums :ns, #total :five DELETE strs :p")
        .expression_attribute_names("#d", "data")
        .expression_attribute_names("#total", "total")
        .expression_attribute_values(":zero", n("0"))
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":red", s("red"))
        .expression_attribute_values(":ns", AttributeValue::Ns(vec!["3".into()]))
        .expression_attribute_values(":five", n("5"))
        .expression_attribute_values(":p", AttributeValue::Ss(vec!["p".into()]))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    out.push((
        "update all new",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));
    let r = update("a", "1")
        .update_expression("SET hits = hits + :one, tags = list_append(tags, :more)")
        .expression_attribute_values(":one", n("1"))
        .expression_attribute_values(":more", AttributeValue::L(vec![s("w")]))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await;
    out.push((
        "update updated new",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));
    let r = update("a", "1")
        .update_expression("SET hits = hits - :two")
        .expression_attribute_values(":two", n("2.5"))
        .return_values(ReturnValue::UpdatedOld)
        .send()
        .await;
    out.push((
        "update updated old",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));
    let r = update("a", "1")
        .update_expression("DELETE strs :q")
        .expression_attribute_values(":q", AttributeValue::Ss(vec!["q".into()]))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    out.push((
        "update delete last",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));
    let r = update("new", "7")
        .update_expression("SET greeting = :g")
        .expression_attribute_values(":g", s("hello"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    out.push((
        "update creates",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));
    let r = update("gone", "7")
        .update_expression("SET greeting = :g")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":g", s("hello"))
        .send()
        .await;
    out.push(("update if exists", outcome(r, |_| json!("ok"))));
    let r = update("a", "2")
        .update_expression("SET grp = :g")
        .condition_expression("size(tags) > :two AND contains(strs, :p) AND attribute_type(info, :m) AND grp IN (:even, :odd) AND NOT (sk < :zero OR flag = :t)")
        .expression_attribute_values(":g", s("odd"))
        .expression_attribute_values(":two", n("2"))
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":m", s("M"))
        .expression_attribute_values(":even", s("even"))
        .expression_attribute_values(":odd", s("odd"))
        .expression_attribute_values(":zero", n("0"))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .return_values(ReturnValue::UpdatedOld)
        .send()
        .await;
    out.push((
        "update conditions",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));
    let r = update("a", "2")
        .update_expression("SET pk = :x")
        .expression_attribute_values(":x", s("z"))
        .send()
        .await;
    out.push(("update key", outcome(r, |_| json!("ok"))));
    let r = update("a", "2")
        .update_expression("SET x = :x")
        .expression_attribute_values(":x", s("z"))
        .expression_attribute_values(":unused", s("z"))
        .send()
        .await;
    out.push(("update unused value", outcome(r, |_| json!("ok"))));
    let r = update("a", "2")
        .update_expression("SET x = :missing")
        .send()
        .await;
    out.push(("update undefined value", outcome(r, |_| json!("ok"))));

    // Query: key conditions, order, pages, filters, the index.
    let r = c
        .query()
        .table_name("Things")
        .key_condition_expression("pk = :a AND sk BETWEEN :lo AND :hi")
        .expression_attribute_values(":a", s("a"))
        .expression_attribute_values(":lo", n("2"))
        .expression_attribute_values(":hi", n("4"))
        .projection_expression("sk")
        .send()
        .await;
    out.push((
        "query between",
        outcome(r, |o| {
            json!([items(o.items(), false), o.count(), o.scanned_count()])
        }),
    ));
    let mut pages = Vec::new();
    let mut start = None;
    loop {
        let r = c
            .query()
            .table_name("Things")
            .key_condition_expression("pk = :a AND sk > :one")
            .expression_attribute_values(":a", s("a"))
            .expression_attribute_values(":one", n("1"))
            .scan_index_forward(false)
            .limit(2)
            .projection_expression("sk")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        pages.push(items(r.items(), false));
        match r.last_evaluated_key() {
            Some(k) if !r.items().is_empty() => start = Some(k.clone()),
            _ => break,
        }
        assert!(pages.len() < 10);
    }
    // The pages' items in order (whether an empty last page follows differs).
    let flat: Vec<Value> = pages
        .iter()
        .flat_map(|p| p.as_array().cloned().unwrap_or_default())
        .collect();
    out.push(("query pages backwards", json!(flat)));
    let r = c
        .query()
        .table_name("Things")
        .key_condition_expression("pk = :a")
        .filter_expression("grp = :odd")
        .expression_attribute_values(":a", s("a"))
        .expression_attribute_values(":odd", s("odd"))
        .select(Select::Count)
        .send()
        .await;
    out.push((
        "query count filtered",
        outcome(r, |o| {
            json!([o.count(), o.scanned_count(), o.items().len()])
        }),
    ));
    let r = c
        .query()
        .table_name("Things")
        .index_name("byGroup")
        .key_condition_expression("grp = :g AND sk >= :three")
        .expression_attribute_values(":g", s("even"))
        .expression_attribute_values(":three", n("3"))
        .projection_expression("pk, sk")
        .send()
        .await;
    out.push(("query index", outcome(r, |o| items(o.items(), false))));
    let r = c
        .query()
        .table_name("Events")
        .key_condition_expression("room = :r AND begins_with(#at, :y)")
        .expression_attribute_names("#at", "at")
        .expression_attribute_values(":r", s("lobby"))
        .expression_attribute_values(":y", s("2024-"))
        .send()
        .await;
    out.push(("query begins_with", outcome(r, |o| items(o.items(), false))));
    let r = c
        .query()
        .table_name("Things")
        .key_condition_expression("sk = :one")
        .expression_attribute_values(":one", n("1"))
        .send()
        .await;
    out.push(("query without partition key", outcome(r, |_| json!("ok"))));
    let r = c
        .query()
        .table_name("Things")
        .index_name("nope")
        .key_condition_expression("pk = :a")
        .expression_attribute_values(":a", s("a"))
        .send()
        .await;
    out.push(("query missing index", outcome(r, |_| json!("ok"))));

    // Scan in pages, with a filter.
    let mut all = Vec::new();
    let mut start = None;
    for _ in 0..20 {
        let r = c
            .scan()
            .table_name("Things")
            .limit(3)
            .filter_expression("attribute_exists(grp)")
            .projection_expression("pk, sk")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        all.extend(r.items().iter().cloned());
        match r.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    out.push(("scan pages", items(&all, true)));

    // Batches.
    let r = c
        .batch_write_item()
        .request_items(
            "Things",
            vec![
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .item("pk", s("c"))
                            .item("sk", n("1"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .item("pk", s("c"))
                            .item("sk", n("2"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .key("pk", s("b"))
                            .key("sk", n("1"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ],
        )
        .send()
        .await;
    out.push((
        "batch write",
        outcome(r, |o| json!(o.unprocessed_items().map(|u| u.len()))),
    ));
    let r = c
        .batch_get_item()
        .request_items(
            "Things",
            KeysAndAttributes::builder()
                .keys(HashMap::from([
                    ("pk".into(), s("c")),
                    ("sk".into(), n("1")),
                ]))
                .keys(HashMap::from([
                    ("pk".into(), s("c")),
                    ("sk".into(), n("2")),
                ]))
                .keys(HashMap::from([
                    ("pk".into(), s("b")),
                    ("sk".into(), n("1")),
                ]))
                .build()
                .unwrap(),
        )
        .send()
        .await;
    out.push((
        "batch get",
        outcome(r, |o| {
            let got: BTreeMap<&String, Value> = o
                .responses()
                .unwrap()
                .iter()
                .map(|(t, v)| (t, items(v, true)))
                .collect();
            json!(got)
        }),
    ));

    // Transactions: all or nothing, conditions read before any write.
    let key =
        |pk: &str, sk: &str| HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), n(sk))]);
    let put = |pk: &str, sk: &str, v: &str| {
        Put::builder()
            .table_name("Things")
            .item("pk", s(pk))
            .item("sk", n(sk))
            .item("v", n(v))
    };
    let delete = |pk: &str, sk: &str| {
        let d = Delete::builder()
            .table_name("Things")
            .set_key(Some(key(pk, sk)));
        TransactWriteItem::builder()
            .delete(d.build().unwrap())
            .build()
    };
    let check = |pk: &str, sk: &str, condition: &str| {
        let c = ConditionCheck::builder()
            .table_name("Things")
            .set_key(Some(key(pk, sk)))
            .condition_expression(condition);
        TransactWriteItem::builder()
            .condition_check(c.build().unwrap())
            .build()
    };
    let fetch = |pk: &str, sk: &str| {
        let g = Get::builder()
            .table_name("Things")
            .set_key(Some(key(pk, sk)));
        TransactGetItem::builder().get(g.build().unwrap()).build()
    };
    let increment = Update::builder()
        .table_name("Things")
        .set_key(Some(key("a", "1")))
        .update_expression("SET hits = hits + :one")
        .expression_attribute_values(":one", n("1"));
    let r = c
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(put("t", "1", "1").build().unwrap())
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .update(increment.build().unwrap())
                .build(),
        )
        .transact_items(check("a", "2", "attribute_exists(pk)"))
        .transact_items(delete("c", "2"))
        .send()
        .await;
    out.push(("transact write", outcome(r, |_| json!("ok"))));
    let conditional = put("t", "1", "2")
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    let r = c
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(conditional.build().unwrap())
                .build(),
        )
        .transact_items(delete("a", "3"))
        .send()
        .await;
    let cancelled = match r {
        Err(e) => match e.into_service_error() {
            TransactWriteItemsError::TransactionCanceledException(t) => json!(t
                .cancellation_reasons()
                .iter()
                .map(|r| json!({"code": r.code(), "item": r.item().map(item)}))
                .collect::<Vec<_>>()),
            other => json!({ "error": format!("{other:?}") }),
        },
        Ok(_) => json!("ok"),
    };
    out.push(("transact write cancelled", cancelled));
    let r = c
        .transact_write_items()
        .transact_items(delete("t", "1"))
        .transact_items(check("t", "1", "attribute_exists(pk)"))
        .send()
        .await;
    out.push(("transact write one item twice", outcome(r, |_| json!("ok"))));
    let r = c
        .transact_get_items()
        .transact_items(fetch("t", "1"))
        .transact_items(fetch("a", "4"))
        .transact_items(fetch("c", "2"))
        .send()
        .await;
    out.push((
        "transact get",
        outcome(r, |o| {
            json!(o
                .responses()
                .iter()
                .map(|r| json!(r.item().map(item)))
                .collect::<Vec<_>>())
        }),
    ));
    let r = get("a", "3").send().await;
    out.push((
        "after a cancelled transaction",
        outcome(r, |o| json!(o.item().is_some())),
    ));

    // DeleteItem.
    let r = c
        .delete_item()
        .table_name("Things")
        .key("pk", s("c"))
        .key("sk", n("1"))
        .condition_expression("attribute_exists(nothing)")
        .send()
        .await;
    out.push(("delete if", outcome(r, |_| json!("ok"))));
    let r = c
        .delete_item()
        .table_name("Things")
        .key("pk", s("c"))
        .key("sk", n("1"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    out.push(("delete", outcome(r, |o| json!(o.attributes().map(item)))));
    let r = c
        .delete_item()
        .table_name("Things")
        .key("pk", s("c"))
        .key("sk", n("1"))
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    out.push((
        "delete again",
        outcome(r, |o| json!(o.attributes().map(item))),
    ));

    let r = c.describe_table().table_name("Things").send().await;
    out.push((
        "describe",
        outcome(r, |o| {
            let t = o.table().unwrap();
            json!({
                "keys": t.key_schema().iter().map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str())).collect::<Vec<_>>(),
                "indexes": t.global_secondary_indexes().iter().map(|i| i.index_name().unwrap_or_default().to_string()).collect::<Vec<_>>(),
                "items": t.item_count(),
                "status": t.table_status().map(|s| s.as_str().to_string()),
            })
        }),
    ));
    let r = c.list_tables().send().await;
    // DynamoDB lists names in order (moto in creation order): compare them sorted.
    out.push((
        "list",
        outcome(r, |o| {
            let mut names = o.table_names().to_vec();
            names.sort();
            json!(names)
        }),
    ));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_dynamodb_answers_like_moto() {
    let dir = tempfile::tempdir().unwrap();
    let db = embedded(dir.path()).await;
    let ours = script(&client(&db.endpoint, "us-east-1").await).await;
    // A region of its own keeps moto's tables apart from the other tests'.
    let theirs = script(&client(&moto().endpoint, "ap-southeast-4").await).await;
    assert_eq!(ours.len(), theirs.len());
    let mut differences = Vec::new();
    // Where moto is known to differ from DynamoDB: a missing index is a
    // ValidationException ("The table does not have the specified index") on AWS.
    // moto's CreateTable answers ACTIVE where DynamoDB answers CREATING.
    let moto_differs = ["query missing index", "create"];
    for ((step, a), (_, b)) in ours.iter().zip(&theirs) {
        if a != b && !moto_differs.contains(step) {
            differences.push(format!("{step}:\n  wsgen: {a}\n  moto:  {b}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // And the answers are the right ones, not only the same ones.
    let find = |step: &str| &ours.iter().find(|(s, _)| *s == step).unwrap().1;
    assert_eq!(find("create"), &json!(["Things", "CREATING"]));
    assert_eq!(
        find("put if absent"),
        &json!({"error": "ConditionalCheckFailedException"})
    );
    assert_eq!(
        find("put missing table"),
        &json!({"error": "ResourceNotFoundException"})
    );
    assert_eq!(
        find("get reserved word"),
        &json!({"error": "ValidationException"})
    );
    assert_eq!(
        find("query missing index"),
        &json!({"error": "ValidationException"})
    );
    assert_eq!(
        find("query pages backwards"),
        &json!([{"sk": {"N": "6"}}, {"sk": {"N": "5"}}, {"sk": {"N": "4"}}, {"sk": {"N": "3"}}, {"sk": {"N": "2"}}])
    );
    assert_eq!(find("transact write"), &json!("ok"));
    assert_eq!(
        find("transact write cancelled"),
        &json!([
            {"code": "ConditionalCheckFailed", "item": {"pk": {"S": "t"}, "sk": {"N": "1"}, "v": {"N": "1"}}},
            {"code": "None", "item": null}
        ])
    );
    assert_eq!(
        find("transact write one item twice"),
        &json!({"error": "ValidationException"})
    );
    assert_eq!(find("after a cancelled transaction"), &json!(true));
    assert_eq!(
        find("transact get")[0],
        json!({"pk": {"S": "t"}, "sk": {"N": "1"}, "v": {"N": "1"}})
    );
    assert_eq!(
        find("transact get")[2],
        json!(null),
        "deleted by the transaction"
    );
    let updated = find("update all new");
    assert_eq!(updated["hits"], json!({"N": "1"}));
    assert_eq!(updated["info"]["M"]["color"], json!({"S": "red"}));
    assert_eq!(updated["tags"], json!({"L": [{"S": "y"}, {"S": "z"}]}));
    assert_eq!(updated["nums"], json!({"NS": ["1", "2", "3"]}));
    assert_eq!(updated["strs"], json!({"SS": ["q"]}));
    assert_eq!(updated["total"], json!({"N": "5"}));
    assert!(updated.get("data").is_none());
    assert_eq!(find("update updated old"), &json!({"hits": {"N": "2"}}));
    assert!(find("update delete last").get("strs").is_none());
    // Items 1, 3 and 5, and 2 which "update conditions" moved to odd.
    assert_eq!(find("query count filtered"), &json!([4, 6, 0]));
}

/// A key of the Things-like tables the tests below use.
fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s(pk))])
}

async fn simple_table(c: &Client, name: &str) {
    c.create_table()
        .table_name(name)
        .set_key_schema(Some(key_schema("pk", None)))
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// Every write answered is kept, whatever ends the process: the engine commits each
/// one to SQLite before answering.
#[test]
fn data_survives_restarts_and_crashes() {
    let dir = tempfile::tempdir().unwrap();
    // A runtime per run of the endpoint: dropping it stops the server without a clean
    // shutdown, as a crash would.
    let runtime = || tokio::runtime::Runtime::new().unwrap();
    runtime().block_on(async {
        let db = embedded(dir.path()).await;
        let c = client(&db.endpoint, "us-east-1").await;
        simple_table(&c, "Kept").await;
        for id in ["a", "b", "c"] {
            c.put_item()
                .table_name("Kept")
                .item("pk", s(id))
                .item("n", n("1.50"))
                .send()
                .await
                .unwrap();
        }
        c.delete_item()
            .table_name("Kept")
            .set_key(Some(key("b")))
            .send()
            .await
            .unwrap();
        c.transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name("Kept")
                            .item("pk", s("d"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name("Kept")
                            .set_key(Some(key("c")))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        std::mem::forget(db);
    });
    runtime().block_on(async {
        let db = embedded(dir.path()).await;
        let c = client(&db.endpoint, "us-east-1").await;
        let scan = c.scan().table_name("Kept").send().await.unwrap();
        assert_eq!(
            items(scan.items(), true),
            json!([{"n": {"N": "1.5"}, "pk": {"S": "a"}}, {"pk": {"S": "d"}}])
        );
        db.stop().await;
    });
}

/// The old engine's defects, each a regression test on this one: data that cannot be
/// loaded is refused, not dropped; an item nested deeper than DynamoDB allows is refused
/// (so it cannot make the data unreadable later).
#[tokio::test(flavor = "multi_thread")]
async fn bad_data_is_refused_and_never_dropped() {
    // A data file that is not a database: a clear error naming it, and the file as it was.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(wsgen_cli::dev::dynamodb::DATA_FILE);
    std::fs::write(&file, "not a database, but somebody's bytes\n").unwrap();
    let e = Embedded::start(dir.path(), 0).await.err().unwrap();
    assert_eq!(e.exit_code(), 1);
    let message = e.to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    let help = e.help().unwrap_or_default();
    assert!(help.contains("move the file away"), "{help}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "not a database, but somebody's bytes\n"
    );

    // DynamoDB takes 32 levels of nesting; deeper is a ValidationException, and the data
    // still loads after a restart.
    let dir = tempfile::tempdir().unwrap();
    let db = embedded(dir.path()).await;
    let c = client(&db.endpoint, "us-east-1").await;
    simple_table(&c, "Deep").await;
    let nested = |depth: usize| {
        let mut v = s("leaf");
        for _ in 0..depth {
            v = AttributeValue::M(HashMap::from([("x".to_string(), v)]));
        }
        v
    };
    c.put_item()
        .table_name("Deep")
        .item("pk", s("ok"))
        .item("v", nested(31))
        .send()
        .await
        .unwrap();
    let e = c
        .put_item()
        .table_name("Deep")
        .item("pk", s("too deep"))
        .item("v", nested(62))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.meta().code(), Some("ValidationException"), "{e:?}");
    db.stop().await;
    drop(db);
    let db = embedded(dir.path()).await;
    let c = client(&db.endpoint, "us-east-1").await;
    let scan = c.scan().table_name("Deep").send().await.unwrap();
    assert_eq!(scan.count(), 1);
    db.stop().await;
}

/// A table whose key changes in the template is recreated, and its items are written
/// to a file first (named in a warning); when only its indexes change, its items are
/// put back too.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_table_keeps_its_items_in_a_file() {
    use wsgen_cli::dev::model::DevTable;
    let dir = tempfile::tempdir().unwrap();
    let db = embedded(dir.path()).await;
    let ui = wsgen_cli::Ui::new(true);
    let table = |props: Value| DevTable {
        logical_id: "Things".into(),
        name: "App-Things".into(),
        properties: serde_json::from_value(props).expect("table properties"),
    };
    let v1 = json!({
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "TimeToLiveSpecification": {"AttributeName": "expires", "Enabled": true}
    });
    db.ensure(&ui, &[table(v1.clone())]).unwrap();
    let c = client(&db.endpoint, "us-east-1").await;
    for id in ["a", "b"] {
        c.put_item()
            .table_name("App-Things")
            .item("pk", s(id))
            .item("owner", s("me"))
            .send()
            .await
            .unwrap();
    }
    let ttl = c
        .describe_time_to_live()
        .table_name("App-Things")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires")
    );
    // The same template again changes nothing.
    db.ensure(&ui, &[table(v1.clone())]).unwrap();
    assert!(!dir.path().join("exports").exists());

    // A new index: recreated with its items, which are also in a file.
    let mut v2 = v1.clone();
    v2["AttributeDefinitions"] = json!([
        {"AttributeName": "owner", "AttributeType": "S"},
        {"AttributeName": "pk", "AttributeType": "S"}
    ]);
    v2["GlobalSecondaryIndexes"] = json!([{"IndexName": "byOwner",
        "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"}}]);
    db.ensure(&ui, &[table(v2.clone())]).unwrap();
    let by_owner = c
        .query()
        .table_name("App-Things")
        .index_name("byOwner")
        .key_condition_expression("#o = :o")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":o", s("me"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_owner.count(),
        2,
        "the items are back, in the new index too"
    );
    let exports: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path().join("exports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(exports.len(), 1, "{exports:?}");

    // A new key: recreated empty; the old items are in a second file, one a line.
    let mut v3 = v2.clone();
    v3["KeySchema"] = json!([{"AttributeName": "id", "KeyType": "HASH"}]);
    v3["AttributeDefinitions"] = json!([
        {"AttributeName": "id", "AttributeType": "S"},
        {"AttributeName": "owner", "AttributeType": "S"}
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a new file name
    db.ensure(&ui, &[table(v3)]).unwrap();
    assert_eq!(
        c.scan()
            .table_name("App-Things")
            .send()
            .await
            .unwrap()
            .count(),
        0
    );
    let mut exports: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path().join("exports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    exports.sort();
    assert_eq!(exports.len(), 2, "{exports:?}");
    let lines: Vec<Value> = std::fs::read_to_string(exports.last().unwrap())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l["pk"]["S"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"]);
    db.stop().await;
}

/// The data of the engine wsgen dev had before is moved aside, never deleted.
#[test]
fn the_old_engines_data_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("snapshot.json"), "{}").unwrap();
    std::fs::write(dir.path().join("wal.jsonl"), "{\"op\":\"put\"}\n").unwrap();
    let moved = wsgen_cli::dev::dynamodb::move_old_engine_data(dir.path())
        .unwrap()
        .unwrap();
    assert_eq!(moved, dir.path().join("old-engine"));
    assert_eq!(
        std::fs::read_to_string(moved.join("wal.jsonl")).unwrap(),
        "{\"op\":\"put\"}\n"
    );
    assert!(!dir.path().join("snapshot.json").exists());
    assert_eq!(
        wsgen_cli::dev::dynamodb::move_old_engine_data(dir.path()).unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_items_are_swept_and_more_of_dynamodb_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = embedded(dir.path()).await;
    let c = client(&db.endpoint, "us-east-1").await;
    simple_table(&c, "Sessions").await;
    c.update_time_to_live()
        .table_name("Sessions")
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (id, at) in [("past", now - 10), ("future", now + 3600)] {
        c.put_item()
            .table_name("Sessions")
            .item("pk", s(id))
            .item("expires", n(&at.to_string()))
            .send()
            .await
            .unwrap();
    }
    // The sweeper runs every second on its own.
    let mut gone = false;
    for _ in 0..50 {
        let got = c
            .get_item()
            .table_name("Sessions")
            .set_key(Some(key("past")))
            .send()
            .await
            .unwrap();
        if got.item().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the expired item was not swept");

    // Items over 400 KB are refused.
    let big = c
        .put_item()
        .table_name("Sessions")
        .item("pk", s("big"))
        .item("blob", s(&"x".repeat(401 * 1024)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(big.meta().code(), Some("ValidationException"));

    // What the old engine refused: PartiQL, and the legacy parameters.
    let selected = c
        .execute_statement()
        .statement("SELECT * FROM Sessions WHERE pk = 'future'")
        .send()
        .await
        .unwrap();
    assert_eq!(selected.items().len(), 1);
    let legacy = c
        .scan()
        .table_name("Sessions")
        .attributes_to_get("pk")
        .send()
        .await
        .unwrap();
    assert_eq!(
        items(legacy.items(), true),
        json!([{"pk": {"S": "future"}}])
    );
    db.stop().await;
}

/// A Scan whose filter nests 1,997 parentheses (within DynamoDB's 4 KB expression
/// limit) overflowed the old engine's stack and took all of `wsgen dev` down with it:
/// now it is answered, and the gateway and the tables stay up.
#[test]
fn a_deeply_nested_filter_leaves_wsgen_dev_up() {
    use std::io::BufRead;
    let p = crate::cli::Project::new("chat", "deepfilter");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wsgen"));
    cmd.env("WSGEN_DATA_DIR", crate::cli::data_dir());
    crate::engine::aws_env(&mut cmd);
    let mut child = cmd
        .args(["dev", "--port", "0", "--json", "--no-watch"])
        .current_dir(&p.dir)
        .env("CARGO_TARGET_DIR", &p.target)
        .env("CARGO_TERM_QUIET", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // The events are on stdout; a `wsgen dev` that ends before it is ready ends the
    // search (and fails the test) rather than hanging it.
    let stdout = child.stdout.take().unwrap();
    let child = Kill(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains(r#""type":"ready""#))
        .expect("wsgen dev is ready");
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let ready: Value = serde_json::from_str(&ready).unwrap();
    let endpoint = ready["dynamodb"].as_str().unwrap().to_string();
    let gateway = ready["address"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = client(&endpoint, "us-east-1").await;
        let filter = format!("{}pk = :v{}", "(".repeat(1997), ")".repeat(1997));
        assert!(filter.len() <= 4096, "{}", filter.len());
        let answer = c
            .scan()
            .table_name("Chat-Connections")
            .filter_expression(&filter)
            .expression_attribute_values(":v", s("x"))
            .send()
            .await;
        match answer {
            Ok(out) => assert_eq!(out.count(), 0),
            Err(e) => {
                let e = e.into_service_error();
                assert_eq!(e.meta().code(), Some("ValidationException"), "{e:?}");
            }
        }
        // Both still answer.
        let tables = c.list_tables().send().await.unwrap();
        assert!(tables
            .table_names()
            .contains(&"Chat-Connections".to_string()));
        let mut tcp = tokio::net::TcpStream::connect(&gateway).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tcp.write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        tcp.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 "), "{reply}");
    });
    drop(child);
}
