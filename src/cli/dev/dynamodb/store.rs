//! The tables' data, kept in memory and made durable with a write-ahead log: every
//! change is appended to `wal.jsonl` before it is answered, and on start the last
//! snapshot plus the log are read back and compacted into a new snapshot. A process
//! crash loses nothing that was answered; a torn last line is ignored.

use super::value::{Item, Scalar};
use crate::cli::files::write_atomically;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// A table's definition, in CreateTable's shape (what DescribeTable reports).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub table_name: String,
    pub key_schema: Vec<KeyElement>,
    pub attribute_definitions: Vec<AttributeDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_secondary_indexes: Vec<IndexDef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_secondary_indexes: Vec<IndexDef>,
    /// The TTL attribute, when time to live is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_attribute: Option<String>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub creation_date_time: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    #[serde(default)]
    pub projection_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_key_attributes: Vec<String>,
}

/// A key schema: the partition key and the optional sort key.
#[derive(Debug, Clone)]
pub struct Keys {
    pub hash: String,
    pub range: Option<String>,
}

impl Keys {
    pub fn of(schema: &[KeyElement]) -> Keys {
        let find = |t: &str| {
            schema
                .iter()
                .find(|k| k.key_type == t)
                .map(|k| k.attribute_name.clone())
        };
        Keys {
            hash: find("HASH").unwrap_or_default(),
            range: find("RANGE"),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.hash).chain(self.range.as_ref())
    }

    /// The item's key under this schema, when the item has the key attributes.
    pub fn key_of(&self, item: &Item) -> Option<Key> {
        let hash = Scalar::of(item.get(&self.hash)?)?;
        let range = match &self.range {
            Some(r) => Some(Scalar::of(item.get(r)?)?),
            None => None,
        };
        Some(Key(hash, range))
    }

    /// Only the key attributes of an item.
    pub fn key_item(&self, item: &Item) -> Item {
        self.names()
            .filter_map(|k| Some((k.clone(), item.get(k)?.clone())))
            .collect()
    }
}

/// A primary key, ordered as DynamoDB orders sort keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(pub Scalar, pub Option<Scalar>);

pub struct Table {
    pub def: TableDef,
    pub keys: Keys,
    pub items: BTreeMap<Key, Item>,
}

impl Table {
    pub fn new(def: TableDef) -> Table {
        Table {
            keys: Keys::of(&def.key_schema),
            def,
            items: BTreeMap::new(),
        }
    }

    pub fn attribute_type(&self, name: &str) -> Option<&str> {
        self.def
            .attribute_definitions
            .iter()
            .find(|a| a.attribute_name == name)
            .map(|a| a.attribute_type.as_str())
    }

    pub fn index(&self, name: &str) -> Option<&IndexDef> {
        self.def
            .global_secondary_indexes
            .iter()
            .chain(&self.def.local_secondary_indexes)
            .find(|i| i.index_name == name)
    }
}

/// One change, as the log records it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Record {
    /// Creates a table, or replaces its definition (items kept).
    Define {
        def: TableDef,
    },
    Drop {
        table: String,
    },
    Put {
        table: String,
        item: Item,
    },
    Delete {
        table: String,
        key: Item,
    },
    /// Changes that survive a crash together or not at all (a transaction's).
    Batch {
        records: Vec<Record>,
    },
}

#[derive(Serialize, Deserialize, Default)]
struct Snapshot {
    tables: Vec<SnapshotTable>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotTable {
    def: TableDef,
    items: Vec<Item>,
}

pub struct Store {
    pub tables: BTreeMap<String, Table>,
    dir: Option<PathBuf>,
    wal: Option<File>,
    /// Bytes appended to the log since the last compaction.
    logged: u64,
    /// Held (locked) while the store is open: one process at a time.
    _lock: Option<File>,
}

/// The log is compacted into a new snapshot once it grows past this.
const COMPACT_AFTER: u64 = 64 << 20;

impl Store {
    /// A store that lives only in memory.
    pub fn in_memory() -> Store {
        Store {
            tables: BTreeMap::new(),
            dir: None,
            wal: None,
            logged: 0,
            _lock: None,
        }
    }

    /// Opens (or creates) the store in `dir`: reads the snapshot and replays the log.
    pub fn open(dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            return Err(format!(
                "another wsgen dev is using the DynamoDB data in {}: stop it first, or give this one --dynamodb-endpoint",
                dir.display()
            ));
        }
        let mut store = Store {
            dir: Some(dir.to_path_buf()),
            _lock: Some(lock),
            ..Store::in_memory()
        };
        let snapshot = dir.join("snapshot.json");
        match std::fs::read(&snapshot) {
            Ok(bytes) => {
                let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                    format!(
                        "{} is not a wsgen dev snapshot ({e}); move it away to start with empty tables",
                        snapshot.display()
                    )
                })?;
                for t in s.tables {
                    let mut table = Table::new(t.def);
                    for item in t.items {
                        if let Some(k) = table.keys.key_of(&item) {
                            table.items.insert(k, item);
                        }
                    }
                    store.tables.insert(table.def.table_name.clone(), table);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {}: {e}", snapshot.display())),
        }
        let wal = dir.join("wal.jsonl");
        if let Ok(file) = File::open(&wal) {
            for line in BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                // A torn last line (a crash mid-write) ends the replay.
                let Ok(record) = serde_json::from_str::<Record>(&line) else {
                    break;
                };
                store.apply(record);
            }
        }
        store.compact()?;
        Ok(store)
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Define { def } => {
                let name = def.table_name.clone();
                match self.tables.get_mut(&name) {
                    Some(t) => {
                        t.keys = Keys::of(&def.key_schema);
                        t.def = def;
                    }
                    None => {
                        self.tables.insert(name, Table::new(def));
                    }
                }
            }
            Record::Drop { table } => {
                self.tables.remove(&table);
            }
            Record::Put { table, item } => {
                if let Some(t) = self.tables.get_mut(&table) {
                    if let Some(k) = t.keys.key_of(&item) {
                        t.items.insert(k, item);
                    }
                }
            }
            Record::Delete { table, key } => {
                if let Some(t) = self.tables.get_mut(&table) {
                    if let Some(k) = t.keys.key_of(&key) {
                        t.items.remove(&k);
                    }
                }
            }
            Record::Batch { records } => {
                for r in records {
                    self.apply(r);
                }
            }
        }
    }

    /// Logs a change, then applies it.
    pub fn record(&mut self, record: Record) -> Result<(), String> {
        if let Some(wal) = &mut self.wal {
            let mut line = serde_json::to_vec(&record).expect("records serialize");
            line.push(b'\n');
            // One write per record: a crash leaves at most a torn last line.
            wal.write_all(&line)
                .map_err(|e| format!("cannot write the DynamoDB log: {e}"))?;
            self.logged += line.len() as u64;
        }
        self.apply(record);
        if self.logged > COMPACT_AFTER {
            self.compact()?;
        }
        Ok(())
    }

    /// Writes every table to a new snapshot (atomically) and starts an empty log.
    pub fn compact(&mut self) -> Result<(), String> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let snapshot = Snapshot {
            tables: self
                .tables
                .values()
                .map(|t| SnapshotTable {
                    def: t.def.clone(),
                    items: t.items.values().cloned().collect(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&snapshot).expect("snapshots serialize");
        write_atomically(&dir.join("snapshot.json"), &bytes, None).map_err(|e| e.to_string())?;
        let wal = dir.join("wal.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&wal)
            .map_err(|e| format!("cannot open {}: {e}", wal.display()))?;
        self.wal = Some(file);
        self.logged = 0;
        Ok(())
    }

    pub fn define(&mut self, def: TableDef) -> Result<(), String> {
        self.record(Record::Define { def })
    }

    pub fn drop_table(&mut self, table: &str) -> Result<(), String> {
        self.record(Record::Drop {
            table: table.to_string(),
        })
    }

    pub fn put(&mut self, table: &str, item: Item) -> Result<(), String> {
        self.record(Record::Put {
            table: table.to_string(),
            item,
        })
    }

    pub fn delete(&mut self, table: &str, key: Item) -> Result<(), String> {
        self.record(Record::Delete {
            table: table.to_string(),
            key,
        })
    }

    /// Makes `records` in one log record: after a crash, all of them or none.
    pub fn commit(&mut self, records: Vec<Record>) -> Result<(), String> {
        self.record(Record::Batch { records })
    }

    /// Flushes the log to disk (on shutdown).
    pub fn sync(&mut self) {
        if let Some(wal) = &self.wal {
            let _ = wal.sync_all();
        }
    }
}

/// A table definition from a template's `AWS::DynamoDB::Table` properties.
pub fn def_from_template(name: &str, properties: &Value) -> Result<TableDef, String> {
    let mut p = properties.clone();
    let ttl = p
        .pointer("/TimeToLiveSpecification")
        .filter(|t| t.get("Enabled") == Some(&Value::Bool(true)))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let obj = p
        .as_object_mut()
        .ok_or("table properties are not an object")?;
    let keep = [
        "KeySchema",
        "AttributeDefinitions",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
    ];
    obj.retain(|k, _| keep.contains(&k.as_str()));
    obj.insert("TableName".into(), Value::String(name.to_string()));
    let mut def: TableDef = serde_json::from_value(p).map_err(|e| format!("table {name}: {e}"))?;
    def.ttl_attribute = ttl;
    Ok(def)
}
