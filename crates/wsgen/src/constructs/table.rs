//! `Table`: a DynamoDB table, with a preset for WebSocket connections.

use super::app::SynthCtx;
use super::function::{Grant, RustFunction};
use super::problems::matches;
use crate::cfn::resources as r;
use crate::cfn::{Expr, Policy, Resource};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The type of a key attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeType {
    /// `S`
    String,
    /// `N`
    Number,
    /// `B`
    Binary,
}

impl AttributeType {
    fn code(self) -> &'static str {
        match self {
            AttributeType::String => "S",
            AttributeType::Number => "N",
            AttributeType::Binary => "B",
        }
    }
}

/// What happens to a table when it leaves the stack or the stack is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RemovalPolicy {
    /// Keep the table and its data (the default for every table).
    #[default]
    Retain,
    /// Delete the table and its data. Only when chosen explicitly.
    Destroy,
}

/// Billing of reads and writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Billing {
    /// Pay per request (the default).
    #[default]
    OnDemand,
    /// Fixed read and write capacity units.
    Provisioned { read: u32, write: u32 },
}

/// Which attributes a global secondary index holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Projection {
    /// Every attribute (the default).
    #[default]
    All,
    /// Only the table's and the index's keys.
    KeysOnly,
    /// The keys and these attributes.
    Include(Vec<String>),
}

/// A global secondary index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalSecondaryIndex {
    pub name: String,
    pub partition_key: (String, AttributeType),
    pub sort_key: Option<(String, AttributeType)>,
    pub projection: Projection,
}

impl GlobalSecondaryIndex {
    /// An index named `name` with partition key `key`, projecting all attributes.
    pub fn new(name: &str, key: &str, ty: AttributeType) -> GlobalSecondaryIndex {
        GlobalSecondaryIndex {
            name: name.into(),
            partition_key: (key.into(), ty),
            sort_key: None,
            projection: Projection::All,
        }
    }

    /// The index's sort key.
    pub fn sort_key(mut self, key: &str, ty: AttributeType) -> Self {
        self.sort_key = Some((key.into(), ty));
        self
    }

    /// Which attributes the index holds. Default: all.
    pub fn projection(mut self, projection: Projection) -> Self {
        self.projection = projection;
        self
    }
}

/// What each record of a table's stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamView {
    /// The changed item's key attributes.
    KeysOnly,
    /// The item as it is after the change.
    NewImage,
    /// The item as it was before the change.
    OldImage,
    /// Both.
    NewAndOldImages,
}

impl StreamView {
    fn code(self) -> &'static str {
        match self {
            StreamView::KeysOnly => "KEYS_ONLY",
            StreamView::NewImage => "NEW_IMAGE",
            StreamView::OldImage => "OLD_IMAGE",
            StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }
}

/// Where a function subscribed to a stream starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartingPosition {
    /// The changes made after the subscription is created (the default).
    #[default]
    Latest,
    /// The oldest record the stream still holds (it keeps them 24 hours).
    TrimHorizon,
}

impl StartingPosition {
    fn code(self) -> &'static str {
        match self {
            StartingPosition::Latest => "LATEST",
            StartingPosition::TrimHorizon => "TRIM_HORIZON",
        }
    }
}

/// A function subscribed to a table's stream ([`Table::on_change`]): Lambda reads the
/// stream and runs the function on batches of records, in order for each item.
#[derive(Clone)]
pub struct StreamSubscription {
    pub(crate) inner: Rc<RefCell<SubscriptionState>>,
}

pub(crate) struct SubscriptionState {
    pub table: Rc<RefCell<TableState>>,
    /// Records in one invocation at most. Default: 100 (Lambda's own default).
    pub batch_size: u32,
    /// Default: [`StartingPosition::Latest`].
    pub starting_position: StartingPosition,
    /// How long to gather records before running the function with fewer than a full
    /// batch. Default: none (as soon as there are records).
    pub max_batching_window: std::time::Duration,
    /// Retries of a batch the function failed, before it is skipped. Default: none set,
    /// which is Lambda's: retried until its records leave the stream (24 hours), holding
    /// back the records after them.
    pub retry_attempts: Option<u32>,
}

impl SubscriptionState {
    /// The `AWS::Lambda::EventSourceMapping` of `function` (logical id), with the
    /// problems found recorded at `path`.
    pub fn synth(&self, ctx: &mut SynthCtx, path: &str, function: &str) -> r::EventSourceMapping {
        let table = self.table.borrow();
        let p = &mut ctx.problems;
        if table.stream.is_none() {
            p.add(
                path,
                "stream-missing",
                format!("table {} has no stream to subscribe to", table.id),
                "give the table one with `.stream(StreamView::NewImage)` (or another view)",
            );
        }
        if !(1..=10_000).contains(&self.batch_size) {
            p.add(
                path,
                "stream-batch-size",
                format!(
                    "the batch size is {}; Lambda takes 1 to 10000 records from a DynamoDB stream",
                    self.batch_size
                ),
                "set `.batch_size(n)` between 1 and 10000",
            );
        }
        let window = self.max_batching_window;
        if window.as_secs() > 300 || window.subsec_nanos() != 0 {
            p.add(
                path,
                "stream-batching-window",
                format!(
                    "the batching window is {window:?}; Lambda takes whole seconds from 0 to 300"
                ),
                "set `.max_batching_window(Duration::from_secs(s))` with s from 0 to 300",
            );
        }
        if self.retry_attempts.is_some_and(|r| r > 10_000) {
            p.add(
                path,
                "stream-retry-attempts",
                format!(
                    "{} retry attempts; Lambda allows at most 10000",
                    self.retry_attempts.unwrap_or_default()
                ),
                "set `.retry_attempts(n)` with n at most 10000",
            );
        }
        r::EventSourceMapping {
            event_source_arn: Expr::get_att(table.logical_id(), "StreamArn"),
            function_name: Expr::ref_(function),
            batch_size: Some(self.batch_size),
            starting_position: Some(self.starting_position.code().into()),
            maximum_batching_window_in_seconds: (window.as_secs() > 0)
                .then_some(window.as_secs() as u32),
            maximum_retry_attempts: self.retry_attempts.map(|r| r as i32),
            enabled: None,
        }
    }
}

impl StreamSubscription {
    /// Records in one invocation at most (1 to 10000). Default: 100.
    pub fn batch_size(self, n: u32) -> Self {
        self.inner.borrow_mut().batch_size = n;
        self
    }

    /// Where reading starts. Default: [`StartingPosition::Latest`].
    pub fn starting_position(self, position: StartingPosition) -> Self {
        self.inner.borrow_mut().starting_position = position;
        self
    }

    /// Gathers records for up to `window` (whole seconds, at most 300) before running
    /// the function with less than a full batch. Default: none.
    pub fn max_batching_window(self, window: std::time::Duration) -> Self {
        self.inner.borrow_mut().max_batching_window = window;
        self
    }

    /// Retries of a failed batch before it is skipped (at most 10000). Default: retried
    /// until its records leave the stream, as Lambda does.
    pub fn retry_attempts(self, n: u32) -> Self {
        self.inner.borrow_mut().retry_attempts = Some(n);
        self
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableKind {
    Connections,
    Custom,
}

/// A DynamoDB table.
#[derive(Clone)]
pub struct Table {
    pub(crate) inner: Rc<RefCell<TableState>>,
}

pub(crate) struct TableState {
    pub id: String,
    /// Default: `connectionId` (string) for a connections table; none otherwise.
    pub partition_key: Option<(String, AttributeType)>,
    /// Default: none.
    pub sort_key: Option<(String, AttributeType)>,
    pub indexes: Vec<GlobalSecondaryIndex>,
    /// Default: on demand.
    pub billing: Billing,
    /// Default: none (CloudFormation generates a unique name).
    pub table_name: Option<String>,
    /// The attribute holding each item's expiry (epoch seconds). Default: none.
    pub ttl_attribute: Option<String>,
    /// Default: off.
    pub point_in_time_recovery: bool,
    /// Default: retain.
    pub removal: RemovalPolicy,
    /// Default: none (no stream).
    pub stream: Option<StreamView>,
}

impl TableState {
    pub fn new(_stack: &str, id: &str, kind: TableKind) -> TableState {
        TableState {
            id: id.to_string(),
            partition_key: (kind == TableKind::Connections)
                .then(|| ("connectionId".to_string(), AttributeType::String)),
            sort_key: None,
            indexes: Vec::new(),
            billing: Billing::OnDemand,
            table_name: None,
            ttl_attribute: None,
            point_in_time_recovery: false,
            removal: RemovalPolicy::Retain,
            stream: None,
        }
    }

    pub fn logical_id(&self) -> String {
        super::naming::logical_id(&[&self.id])
    }

    pub fn synth(&self, ctx: &mut SynthCtx) {
        let path = ctx.path(&[&self.id]);
        let p = &mut ctx.problems;
        let Some(pk) = &self.partition_key else {
            p.add(
                &path,
                "table-key",
                "the table has no partition key",
                "set one with `.partition_key(\"pk\", AttributeType::String)`",
            );
            return;
        };
        let mut attributes: BTreeMap<String, &'static str> = BTreeMap::new();
        let mut define = |p: &mut super::problems::Problems,
                          (name, ty): &(String, AttributeType)| {
            if name.is_empty() || name.len() > 255 {
                p.add(
                    &path,
                    "table-key",
                    format!("key attribute name `{name}` must be 1 to 255 bytes"),
                    "rename the key attribute",
                );
            }
            if let Some(prev) = attributes.insert(name.clone(), ty.code()) {
                if prev != ty.code() {
                    p.add(
                        &path,
                        "table-key",
                        format!(
                            "key attribute `{name}` is declared as both {prev} and {}",
                            ty.code()
                        ),
                        "use one type for each key attribute",
                    );
                }
            }
        };
        define(p, pk);
        if let Some(sk) = &self.sort_key {
            define(p, sk);
        }
        let key_schema = |pk: &(String, AttributeType), sk: &Option<(String, AttributeType)>| {
            let mut k = vec![r::KeySchema {
                attribute_name: pk.0.clone(),
                key_type: "HASH".into(),
            }];
            if let Some(sk) = sk {
                k.push(r::KeySchema {
                    attribute_name: sk.0.clone(),
                    key_type: "RANGE".into(),
                });
            }
            k
        };
        if self.indexes.len() > 20 {
            p.add(
                &path,
                "table-indexes",
                format!(
                    "{} global secondary indexes; DynamoDB allows 20",
                    self.indexes.len()
                ),
                "remove indexes",
            );
        }
        let mut gsis = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for gsi in &self.indexes {
            if !matches(&gsi.name, valid_name_char, valid_name_char, 3..=255) {
                p.add(
                    &path,
                    "table-index-name",
                    format!(
                        "index name `{}` must be 3 to 255 letters, digits, `_`, `-` or `.`",
                        gsi.name
                    ),
                    "rename the index",
                );
            }
            if !names.insert(gsi.name.clone()) {
                p.add(
                    &path,
                    "table-index-name",
                    format!("two indexes are named `{}`", gsi.name),
                    "give each index a unique name",
                );
            }
            define(p, &gsi.partition_key);
            if let Some(sk) = &gsi.sort_key {
                define(p, sk);
            }
            let (projection_type, non_key_attributes) = match &gsi.projection {
                Projection::All => ("ALL", Vec::new()),
                Projection::KeysOnly => ("KEYS_ONLY", Vec::new()),
                Projection::Include(a) => ("INCLUDE", a.clone()),
            };
            gsis.push(r::GlobalSecondaryIndex {
                index_name: gsi.name.clone(),
                key_schema: key_schema(&gsi.partition_key, &gsi.sort_key),
                projection: r::Projection {
                    projection_type: projection_type.into(),
                    non_key_attributes,
                },
            });
        }
        if let Some(name) = &self.table_name {
            if !matches(name, valid_name_char, valid_name_char, 3..=255) {
                p.add(
                    &path,
                    "table-name",
                    format!(
                        "table name `{name}` must be 3 to 255 letters, digits, `_`, `-` or `.`"
                    ),
                    "rename the table, or leave the name out and let CloudFormation generate one",
                );
            }
        }
        if let Some(ttl) = &self.ttl_attribute {
            if attributes.contains_key(ttl) {
                p.add(
                    &path,
                    "table-ttl",
                    format!("the TTL attribute `{ttl}` is a key attribute"),
                    "use a separate numeric attribute such as `expiresAt` for TTL",
                );
            }
        }
        let (billing_mode, provisioned_throughput) = match self.billing {
            Billing::OnDemand => ("PAY_PER_REQUEST", None),
            Billing::Provisioned { read, write } => (
                "PROVISIONED",
                Some(r::ProvisionedThroughput {
                    read_capacity_units: read,
                    write_capacity_units: write,
                }),
            ),
        };
        let table = r::Table {
            table_name: self.table_name.clone(),
            attribute_definitions: attributes
                .into_iter()
                .map(|(attribute_name, t)| r::AttributeDefinition {
                    attribute_name,
                    attribute_type: t.into(),
                })
                .collect(),
            key_schema: key_schema(pk, &self.sort_key),
            billing_mode: Some(billing_mode.into()),
            provisioned_throughput,
            global_secondary_indexes: gsis,
            sse_specification: Some(r::SseSpecification { sse_enabled: true }),
            time_to_live_specification: self.ttl_attribute.clone().map(|attribute_name| {
                r::TimeToLiveSpecification {
                    attribute_name,
                    enabled: true,
                }
            }),
            point_in_time_recovery_specification: self.point_in_time_recovery.then_some(
                r::PointInTimeRecoverySpecification {
                    point_in_time_recovery_enabled: true,
                },
            ),
            stream_specification: self.stream.map(|view| r::StreamSpecification {
                stream_view_type: view.code().into(),
            }),
            tags: r::tag_list(&ctx.tags),
        };
        let policy = match self.removal {
            RemovalPolicy::Retain => Policy::Retain,
            RemovalPolicy::Destroy => Policy::Delete,
        };
        ctx.add(
            &self.logical_id(),
            &path,
            Resource::new(table).removal(policy),
        );
    }
}

fn valid_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl Table {
    /// The partition key. A connections table has `connectionId` (string).
    pub fn partition_key(self, name: &str, ty: AttributeType) -> Self {
        self.inner.borrow_mut().partition_key = Some((name.to_string(), ty));
        self
    }

    /// The sort key. Default: none.
    pub fn sort_key(self, name: &str, ty: AttributeType) -> Self {
        self.inner.borrow_mut().sort_key = Some((name.to_string(), ty));
        self
    }

    /// Adds a global secondary index.
    pub fn global_secondary_index(self, index: GlobalSecondaryIndex) -> Self {
        self.inner.borrow_mut().indexes.push(index);
        self
    }

    /// Billing mode. Default: on demand.
    pub fn billing(self, billing: Billing) -> Self {
        self.inner.borrow_mut().billing = billing;
        self
    }

    /// A fixed physical table name. Default: generated by CloudFormation (which lets the
    /// table be replaced and the stack deployed twice in one account).
    pub fn table_name(self, name: &str) -> Self {
        self.inner.borrow_mut().table_name = Some(name.to_string());
        self
    }

    /// Expires items whose `attribute` (epoch seconds) is in the past.
    pub fn ttl(self, attribute: &str) -> Self {
        self.inner.borrow_mut().ttl_attribute = Some(attribute.to_string());
        self
    }

    /// Point-in-time recovery. Default: off.
    pub fn point_in_time_recovery(self, on: bool) -> Self {
        self.inner.borrow_mut().point_in_time_recovery = on;
        self
    }

    /// What happens to the table and its data when it leaves the stack. Default:
    /// [`RemovalPolicy::Retain`]; only [`RemovalPolicy::Destroy`] deletes data.
    pub fn removal_policy(self, policy: RemovalPolicy) -> Self {
        self.inner.borrow_mut().removal = policy;
        self
    }

    /// Records every change to the table in a stream (kept 24 hours) that functions
    /// subscribe to with [`Table::on_change`]. Default: no stream.
    pub fn stream(self, view: StreamView) -> Self {
        self.inner.borrow_mut().stream = Some(view);
        self
    }

    /// Runs `function` on batches of the table's changes, in order for each item (an
    /// `AWS::Lambda::EventSourceMapping`), and lets it read the stream (DescribeStream,
    /// GetShardIterator, GetRecords, ListStreams) on the stream's ARN only. The table
    /// needs a stream ([`Table::stream`]).
    pub fn on_change(&self, function: &RustFunction) -> StreamSubscription {
        let state = Rc::new(RefCell::new(SubscriptionState {
            table: self.inner.clone(),
            batch_size: 100,
            starting_position: StartingPosition::Latest,
            max_batching_window: std::time::Duration::ZERO,
            retry_attempts: None,
        }));
        let mut f = function.inner.borrow_mut();
        f.grants.push(Grant::Stream {
            table: self.inner.clone(),
        });
        f.stream_sources.push(state.clone());
        StreamSubscription { inner: state }
    }

    /// The table's stream ARN (the table needs a stream).
    pub fn stream_arn(&self) -> Expr {
        Expr::get_att(self.inner.borrow().logical_id(), "StreamArn")
    }

    /// The table's name.
    pub fn name(&self) -> Expr {
        Expr::ref_(self.inner.borrow().logical_id())
    }

    /// The table's ARN.
    pub fn arn(&self) -> Expr {
        Expr::get_att(self.inner.borrow().logical_id(), "Arn")
    }

    /// Lets `function` read items (GetItem, BatchGetItem, Query, Scan, ...), on this
    /// table and its indexes only.
    pub fn grant_read(&self, function: &RustFunction) {
        self.grant(function, true, false)
    }

    /// Lets `function` write items (PutItem, UpdateItem, DeleteItem, BatchWriteItem), on
    /// this table only.
    pub fn grant_write(&self, function: &RustFunction) {
        self.grant(function, false, true)
    }

    /// [`Table::grant_read`] and [`Table::grant_write`].
    pub fn grant_read_write(&self, function: &RustFunction) {
        self.grant(function, true, true)
    }

    fn grant(&self, function: &RustFunction, read: bool, write: bool) {
        function.inner.borrow_mut().grants.push(Grant::Table {
            table: self.inner.clone(),
            read,
            write,
        });
    }
}
