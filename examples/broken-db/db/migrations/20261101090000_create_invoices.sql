-- migrate:up
CREATE TABLE invoices (
    id       bigserial PRIMARY KEY,
    order_id bigint NOT NULL
);

-- migrate:down
DROP TABLE invoices;
