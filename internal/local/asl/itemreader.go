package asl

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"time"
)

// ErrItemReaderFailed is raised when a Distributed Map cannot read its items.
const ErrItemReaderFailed = "States.ItemReaderFailed"

// ObjectReader is implemented by a Runtime that can read the Amazon S3 objects a Distributed
// Map's ItemReader names.
type ObjectReader interface {
	GetObject(ctx context.Context, bucket, key string) ([]byte, error)
	// ListObjects answers the objects whose keys start with prefix, in key order.
	ListObjects(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error)
}

// ObjectInfo is one object of a listing.
type ObjectInfo struct {
	Key, ETag, StorageClass string
	Size                    int64
	LastModified            time.Time
}

// itemReader is a Distributed Map's ItemReader: a JSON or CSV object
// (arn:aws:states:::s3:getObject) or a listing (arn:aws:states:::s3:listObjectsV2).
type itemReader struct {
	list         bool
	csv          bool
	givenHeaders []string // CSVHeaderLocation GIVEN
	params       *tnode   // Parameters (JSONPath)
	jxArgs       *jnode   // Arguments (JSONata)
	maxItems     int64
	maxItemsPath *jsonPath
	jxMaxItems   *jnode
}

func (c *checker) itemReader(st *state, v any, loc string) {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return
	}
	r := &itemReader{}
	st.dist.reader = r
	res, hasRes := o.get("Resource")
	switch res {
	case "arn:aws:states:::s3:getObject":
	case "arn:aws:states:::s3:listObjectsV2":
		r.list = true
	default:
		if !hasRes {
			c.schema(loc, "These fields are required: [Resource]")
		} else {
			c.unsupported(loc+"/Resource", "The ItemReader resource %s is not supported by sfn-rollout local: use arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2", plainText(plain(res)))
		}
	}
	inputType := ""
	for _, k := range o.keys {
		val := o.vals[k]
		kloc := loc + "/" + k
		switch k {
		case "Resource":
		case "Parameters":
			if st.jx != nil {
				c.schema(kloc, "The QueryLanguage is set to 'JSONata', but field 'Parameters' is only supported for the 'JSONPath' QueryLanguage")
				continue
			}
			r.params = c.compileTemplate(val, kloc, k)
		case "Arguments":
			if st.jx == nil {
				c.schema(kloc, "The field 'Arguments' is only supported for the 'JSONata' QueryLanguage")
				continue
			}
			r.jxArgs = c.compileJSONata(val, kloc, k, jsonataAccess{})
		case "ReaderConfig":
			inputType = c.readerConfig(st, r, val, kloc)
		default:
			c.unknownField(k, kloc, "")
		}
	}
	if r.params == nil && r.jxArgs == nil {
		c.schema(loc, "The ItemReader needs the bucket (and key or prefix) in '%s'", map[bool]string{true: "Arguments", false: "Parameters"}[st.jx != nil]) // (unconfirmed)
	}
	switch {
	case r.list && inputType != "":
		c.schema(loc+"/ReaderConfig/InputType", "The field 'InputType' is not supported with %s", plainText(plain(res))) // (unconfirmed)
	case !r.list && hasRes && inputType == "" && res == "arn:aws:states:::s3:getObject":
		c.schema(loc, "The field 'ReaderConfig.InputType' is required with arn:aws:states:::s3:getObject") // (unconfirmed)
	}
}

// readerConfig reads ReaderConfig and answers its InputType.
func (c *checker) readerConfig(st *state, r *itemReader, v any, loc string) string {
	o, ok := v.(*object)
	if !ok {
		c.schema(loc, "Expected value of type [OBJECT]")
		return ""
	}
	inputType, location := "", ""
	for _, k := range o.keys {
		val := o.vals[k]
		kloc := loc + "/" + k
		switch k {
		case "InputType":
			switch val {
			case "JSON":
			case "CSV":
				r.csv = true
			case "JSONL", "MANIFEST", "PARQUET":
				c.unsupported(kloc, "The ItemReader InputType %s is not supported by sfn-rollout local: use JSON or CSV", plainText(plain(val)))
			default:
				c.schema(kloc, "Value should be one of the following: [CSV, JSON, JSONL, MANIFEST, PARQUET]")
			}
			inputType, _ = val.(string)
		case "CSVHeaderLocation":
			switch val {
			case "FIRST_ROW", "GIVEN":
				location = val.(string)
			default:
				c.schema(kloc, "Value should be one of the following: [FIRST_ROW, GIVEN]")
			}
		case "CSVHeaders":
			arr, ok := val.([]any)
			if !ok || len(arr) == 0 {
				c.schema(kloc, "The field 'CSVHeaders' must be a non-empty array of strings") // (unconfirmed)
				continue
			}
			for i, h := range arr {
				if s, ok := c.expectString(h, kloc+"/"+itoa(i)); ok {
					r.givenHeaders = append(r.givenHeaders, s)
				}
			}
		case "CSVDelimiter":
			if val != "COMMA" {
				c.unsupported(kloc, "The CSVDelimiter %s is not supported by sfn-rollout local: only COMMA", plainText(plain(val)))
			}
		case "MaxItems":
			if st.jx != nil && c.jsonataString(fmt.Sprint(val), kloc) {
				r.jxMaxItems = c.compileJSONata(val, kloc, k, jsonataAccess{})
			} else {
				r.maxItems, _ = c.nonNegativeInt(val, kloc, k)
			}
		case "MaxItemsPath":
			if st.jx != nil {
				c.schema(kloc, "The QueryLanguage is set to 'JSONata', but field 'MaxItemsPath' is only supported for the 'JSONPath' QueryLanguage")
				continue
			}
			if s, ok := c.expectString(val, kloc); ok {
				r.maxItemsPath = c.referencePath(s, kloc, k, true)
			}
		default:
			c.unknownField(k, kloc, "")
		}
	}
	_, hasMax := o.get("MaxItems")
	_, hasMaxPath := o.get("MaxItemsPath")
	if hasMax && hasMaxPath {
		c.schema(loc, "The fields 'MaxItems' and 'MaxItemsPath' are mutually exclusive") // (unconfirmed)
	}
	switch {
	case location == "GIVEN" && len(r.givenHeaders) == 0:
		c.schema(loc, "The field 'CSVHeaders' is required when 'CSVHeaderLocation' is 'GIVEN'") // (unconfirmed)
	case location != "GIVEN" && r.givenHeaders != nil:
		c.schema(loc+"/CSVHeaders", "The field 'CSVHeaders' is only supported when 'CSVHeaderLocation' is 'GIVEN'") // (unconfirmed)
	case location != "" && inputType != "CSV":
		c.schema(loc+"/CSVHeaderLocation", "The field 'CSVHeaderLocation' is only supported when 'InputType' is 'CSV'") // (unconfirmed)
	}
	return inputType
}

func readerFailure(format string, a ...any) *Failure {
	return &Failure{Name: ErrItemReaderFailed, Cause: fmt.Sprintf(format, a...)} // (cause unconfirmed)
}

// read answers the items the reader names: a JSON array's elements, a CSV file's rows as
// objects keyed by the headers (every value a string), or a listing's objects as
// {"Etag", "Key", "LastModified" (epoch seconds), "Size", "StorageClass"}; at most MaxItems.
func (r *itemReader) read(ctx context.Context, rt Runtime, tpl *evalEnv, jx *jenv, lookup func(*jsonPath) (any, bool)) ([]any, *Failure) {
	var (
		args any
		f    *Failure
	)
	if r.params != nil {
		args, f = r.params.eval(tpl)
	} else if r.jxArgs != nil {
		args, f = r.jxArgs.eval(jx)
	}
	if f != nil {
		return nil, f
	}
	limit := r.maxItems
	if r.maxItemsPath != nil {
		v, found := lookup(r.maxItemsPath)
		n, ok := integer(v)
		if !found || !ok || n < 0 {
			return nil, runtimeFailure("The value of '%s' must be a non-negative integer, not %s", r.maxItemsPath.raw, describe(v, found)) // (unconfirmed)
		}
		limit = n
	}
	if r.jxMaxItems != nil {
		if limit, f = jsonataInt(r.jxMaxItems, jx, "MaxItems", 0); f != nil {
			return nil, f
		}
	}
	m, _ := args.(map[string]any)
	bucket, _ := m["Bucket"].(string)
	if bucket == "" {
		return nil, readerFailure("The ItemReader's parameters must name a Bucket, not %s", encodeString(args))
	}
	objects, ok := rt.(ObjectReader)
	if !ok {
		return nil, readerFailure("This runtime cannot read Amazon S3 objects")
	}
	var items []any
	if r.list {
		prefix, _ := m["Prefix"].(string)
		list, err := objects.ListObjects(ctx, bucket, prefix)
		if err != nil {
			return nil, readerFailure("%v", err)
		}
		for _, o := range list {
			items = append(items, map[string]any{"Etag": o.ETag, "Key": o.Key, "LastModified": intValue(o.LastModified.Unix()), "Size": intValue(o.Size), "StorageClass": o.StorageClass})
		}
	} else {
		key, _ := m["Key"].(string)
		if key == "" {
			return nil, readerFailure("The ItemReader's parameters must name a Key, not %s", encodeString(args))
		}
		body, err := objects.GetObject(ctx, bucket, key)
		if err != nil {
			return nil, readerFailure("%v", err)
		}
		if r.csv {
			items, f = r.csvItems(body)
		} else {
			items, f = jsonItems(body)
		}
		if f != nil {
			return nil, f
		}
	}
	if limit > 0 && int64(len(items)) > limit {
		items = items[:limit]
	}
	if items == nil {
		items = []any{}
	}
	return items, nil
}

func jsonItems(body []byte) ([]any, *Failure) {
	v, err := decodeValue(body)
	if err != nil {
		return nil, readerFailure("The object is not JSON: %v", err)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, readerFailure("The object must hold a JSON array, not %s", typeName(v))
	}
	return arr, nil
}

func (r *itemReader) csvItems(body []byte) ([]any, *Failure) {
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		return nil, readerFailure("The object is not CSV: %v", err)
	}
	headers := r.givenHeaders
	if headers == nil {
		if len(rows) == 0 {
			return nil, readerFailure("The CSV object has no header row")
		}
		headers, rows = rows[0], rows[1:]
	}
	items := make([]any, 0, len(rows))
	for i, row := range rows {
		if len(row) != len(headers) {
			return nil, readerFailure("CSV row %d has %d fields, and there are %d headers", i+1, len(row), len(headers))
		}
		item := make(map[string]any, len(row))
		for j, h := range headers {
			item[h] = row[j]
		}
		items = append(items, item)
	}
	return items, nil
}
