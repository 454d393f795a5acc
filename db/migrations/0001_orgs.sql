-- The institution and its departments (OneRoster "orgs"), as a tree.
CREATE TABLE orgs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sourced_id         uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'tobedeleted')),
    date_last_modified timestamptz NOT NULL DEFAULT now(),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type               text NOT NULL CHECK (type IN ('institution', 'department')),
    identifier         text NOT NULL UNIQUE CHECK (length(identifier) BETWEEN 1 AND 32),
    parent_id          bigint REFERENCES orgs (id),
    CHECK ((type = 'institution') = (parent_id IS NULL))
);

CREATE INDEX orgs_parent_id_idx ON orgs (parent_id);
CREATE INDEX orgs_date_last_modified_idx ON orgs (date_last_modified);
CREATE INDEX orgs_type_identifier_idx ON orgs (type, identifier);
