-- The DDL that cradletrace's first release (commit 8b47765, trace/store/models.py) ran through
-- SQLModel.metadata.create_all on sqlite; generated from that file, kept to build old stores in tests.
CREATE TABLE meta (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE supplier (
	id VARCHAR(63) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE anchor_batch (
	id INTEGER NOT NULL, 
	root VARCHAR(64) NOT NULL, 
	leaf_count INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	contract VARCHAR(42) NOT NULL, 
	chain_id BIGINT NOT NULL, 
	tx_hash VARCHAR(66), 
	block_number BIGINT, 
	block_time DATETIME, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (root)
);

CREATE INDEX ix_anchor_batch_status ON anchor_batch (status);

CREATE TABLE certification (
	id INTEGER NOT NULL, 
	supplier_id VARCHAR(63) NOT NULL, 
	scheme VARCHAR(100) NOT NULL, 
	number VARCHAR(100) NOT NULL, 
	issuer VARCHAR(200) NOT NULL, 
	valid_until DATE NOT NULL, 
	required BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(supplier_id) REFERENCES supplier (id)
);

CREATE INDEX ix_certification_supplier_id ON certification (supplier_id);

CREATE TABLE supplier_key (
	key_id VARCHAR(16) NOT NULL, 
	supplier_id VARCHAR(63) NOT NULL, 
	public_key VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (key_id), 
	FOREIGN KEY(supplier_id) REFERENCES supplier (id)
);

CREATE INDEX ix_supplier_key_supplier_id ON supplier_key (supplier_id);

CREATE TABLE api_key (
	id VARCHAR(16) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	supplier_id VARCHAR(63), 
	hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(supplier_id) REFERENCES supplier (id)
);

CREATE INDEX ix_api_key_supplier_id ON api_key (supplier_id);

CREATE TABLE event (
	id INTEGER NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	supplier_id VARCHAR(63) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	body TEXT NOT NULL, 
	signature VARCHAR(100) NOT NULL, 
	recorded_at DATETIME NOT NULL, 
	gtin VARCHAR(14), 
	lot VARCHAR(20), 
	ref VARCHAR(80), 
	outcome VARCHAR(16), 
	anchor_id INTEGER, 
	proof TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (digest), 
	FOREIGN KEY(supplier_id) REFERENCES supplier (id), 
	FOREIGN KEY(key_id) REFERENCES supplier_key (key_id), 
	FOREIGN KEY(anchor_id) REFERENCES anchor_batch (id)
);

CREATE INDEX ix_event_ref ON event (ref);

CREATE INDEX ix_event_gtin_lot ON event (gtin, lot);

CREATE INDEX ix_event_supplier_id ON event (supplier_id);

CREATE INDEX ix_event_pending ON event (anchor_id);

CREATE TABLE lot (
	id INTEGER NOT NULL, 
	gtin VARCHAR(14) NOT NULL, 
	lot VARCHAR(20) NOT NULL, 
	product VARCHAR(200) NOT NULL, 
	supplier_id VARCHAR(63) NOT NULL, 
	event_id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (gtin, lot), 
	FOREIGN KEY(supplier_id) REFERENCES supplier (id), 
	FOREIGN KEY(event_id) REFERENCES event (id)
);

CREATE INDEX ix_lot_supplier_id ON lot (supplier_id);

CREATE TABLE lot_input (
	lot_id INTEGER NOT NULL, 
	input_lot_id INTEGER NOT NULL, 
	PRIMARY KEY (lot_id, input_lot_id), 
	FOREIGN KEY(lot_id) REFERENCES lot (id), 
	FOREIGN KEY(input_lot_id) REFERENCES lot (id)
);

CREATE INDEX ix_lot_input_input_lot_id ON lot_input (input_lot_id);

CREATE TABLE shipment (
	id VARCHAR(80) NOT NULL, 
	lot_id INTEGER NOT NULL, 
	event_id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(lot_id) REFERENCES lot (id), 
	FOREIGN KEY(event_id) REFERENCES event (id)
);

CREATE INDEX ix_shipment_lot_id ON shipment (lot_id);

CREATE TABLE item (
	serial VARCHAR(20) NOT NULL, 
	gtin VARCHAR(14) NOT NULL, 
	lot_id INTEGER NOT NULL, 
	event_id INTEGER NOT NULL, 
	PRIMARY KEY (serial), 
	FOREIGN KEY(lot_id) REFERENCES lot (id), 
	FOREIGN KEY(event_id) REFERENCES event (id)
);

CREATE INDEX ix_item_lot_id ON item (lot_id);

CREATE INDEX ix_item_gtin_serial ON item (gtin, serial);

CREATE TABLE scan (
	id VARCHAR(32) NOT NULL, 
	serial VARCHAR(20) NOT NULL, 
	scanned_at DATETIME NOT NULL, 
	consent BOOLEAN NOT NULL, 
	location BLOB, 
	PRIMARY KEY (id), 
	FOREIGN KEY(serial) REFERENCES item (serial)
);

CREATE INDEX ix_scan_serial ON scan (serial);
