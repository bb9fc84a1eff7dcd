//! SQLite and Postgres store through sqlx. (Being written: see the store helper.)

use super::{ServerStore, StoreError};
use crate::model::ServerRecord;

pub struct SqlStore {
    url: String,
}

impl SqlStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

#[async_trait::async_trait]
impl ServerStore for SqlStore {
    async fn load_all(&self) -> Result<Vec<ServerRecord>, StoreError> {
        Ok(Vec::new())
    }
    async fn insert(&self, _record: &ServerRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn replace(&self, _record: &ServerRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn delete(&self, _server_id: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn describe(&self) -> String {
        self.url.clone()
    }
}
