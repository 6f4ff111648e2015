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
