-- migrate:up
CREATE TABLE customers (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- migrate:down
DROP TABLE customers;
