-- Characters of speech: a record of route "tts" counts the characters it
-- spoke, and the daily rollup sums them. Rows written before this migration
-- spoke none.
ALTER TABLE usage ADD COLUMN tts_chars INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN tts_chars INTEGER NOT NULL DEFAULT 0;
