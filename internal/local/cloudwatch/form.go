package cloudwatch

import (
	"encoding"
	"encoding/xml"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// awsQuery flattens a request into form keys: a structure member is "<prefix>.<Member>", a
// list entry "<prefix>.member.<n>" counting from 1 (MetricData.member.1.Dimensions.member.1.Name).
// decodeForm walks the shapes by their json names, so the three protocols share one set of
// structs.
func decodeForm(form url.Values, v any) *core.APIError {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	d := formDecoder{form: form, keys: keys}
	return d.fill("", reflect.ValueOf(v).Elem())
}

type formDecoder struct {
	form url.Values
	keys []string
}

// has reports whether the form holds key itself or anything under it.
func (d *formDecoder) has(key string) bool {
	if _, ok := d.form[key]; ok {
		return true
	}
	for _, k := range d.keys {
		if strings.HasPrefix(k, key) && len(k) > len(key) && k[len(key)] == '.' {
			return true
		}
	}
	return false
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *formDecoder) fill(prefix string, rv reflect.Value) *core.APIError {
	rt := rv.Type()
	for i := range rt.NumField() {
		f := rt.Field(i)
		name := jsonName(f)
		if name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if !d.has(key) {
			continue
		}
		if err := d.value(key, rv.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

func (d *formDecoder) value(key string, fv reflect.Value) *core.APIError {
	if reflect.PointerTo(fv.Type()).Implements(textUnmarshaler) {
		if err := fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(d.form.Get(key))); err != nil {
			return apiError("InvalidParameterValue", "Invalid value for parameter %s: %v", key, err)
		}
		return nil
	}
	switch fv.Kind() {
	case reflect.Pointer:
		nv := reflect.New(fv.Type().Elem())
		if err := d.value(key, nv.Elem()); err != nil {
			return err
		}
		fv.Set(nv)
	case reflect.Struct:
		return d.fill(key, fv)
	case reflect.Slice:
		for n := 1; ; n++ {
			item := key + ".member." + strconv.Itoa(n)
			if !d.has(item) {
				break
			}
			ev := reflect.New(fv.Type().Elem()).Elem()
			if err := d.value(item, ev); err != nil {
				return err
			}
			fv.Set(reflect.Append(fv, ev))
		}
		if fv.IsNil() {
			fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
		}
	case reflect.Interface:
		// Members local mode refuses (unions such as EvaluationCriteria): presence is enough.
		fv.Set(reflect.ValueOf(map[string]any{"present": true}))
	case reflect.String:
		fv.SetString(d.form.Get(key))
	case reflect.Bool:
		b, err := strconv.ParseBool(d.form.Get(key))
		if err != nil {
			return apiError("InvalidParameterValue", "Value %s for parameter %s is invalid.", d.form.Get(key), key)
		}
		fv.SetBool(b)
	case reflect.Int32, reflect.Int64, reflect.Int:
		n, err := strconv.ParseInt(d.form.Get(key), 10, 64)
		if err != nil || fv.OverflowInt(n) {
			return apiError("InvalidParameterValue", "Value %s for parameter %s is invalid.", d.form.Get(key), key)
		}
		fv.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(d.form.Get(key), 64)
		if err != nil {
			return apiError("InvalidParameterValue", "Value %s for parameter %s is invalid.", d.form.Get(key), key)
		}
		fv.SetFloat(n)
	}
	return nil
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return f.Name
	}
	return name
}

func omitEmpty(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	return strings.Contains(opts, "omitempty")
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// writeXML writes v as the awsQuery XML element name: members as child elements, lists as
// <member> entries, timestamps in ISO 8601.
func writeXML(b *strings.Builder, name string, v any) {
	writeXMLValue(b, name, reflect.ValueOf(v))
}

func writeXMLValue(b *strings.Builder, name string, rv reflect.Value) {
	if (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && rv.IsNil() {
		return
	}
	if rv.Type().Implements(textMarshaler) {
		text, _ := rv.Interface().(encoding.TextMarshaler).MarshalText()
		writeXMLText(b, name, string(text))
		return
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		writeXMLValue(b, name, rv.Elem())
	case reflect.Struct:
		b.WriteString("<" + name + ">")
		rt := rv.Type()
		for i := range rt.NumField() {
			f := rt.Field(i)
			fname := jsonName(f)
			if fname == "" {
				continue
			}
			fv := rv.Field(i)
			if fv.IsZero() && (omitEmpty(f) || fv.Kind() == reflect.Pointer) {
				continue
			}
			writeXMLValue(b, fname, fv)
		}
		b.WriteString("</" + name + ">")
	case reflect.Slice:
		if rv.Len() == 0 {
			b.WriteString("<" + name + "/>")
			return
		}
		b.WriteString("<" + name + ">")
		for i := range rv.Len() {
			writeXMLValue(b, "member", rv.Index(i))
		}
		b.WriteString("</" + name + ">")
	case reflect.String:
		writeXMLText(b, name, rv.String())
	case reflect.Bool:
		writeXMLText(b, name, strconv.FormatBool(rv.Bool()))
	case reflect.Int32, reflect.Int64, reflect.Int:
		writeXMLText(b, name, strconv.FormatInt(rv.Int(), 10))
	case reflect.Float64:
		writeXMLText(b, name, strconv.FormatFloat(rv.Float(), 'g', -1, 64))
	}
}

func writeXMLText(b *strings.Builder, name, text string) {
	b.WriteString("<" + name + ">")
	xmlEscape(b, text)
	b.WriteString("</" + name + ">")
}

func xmlEscape(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
