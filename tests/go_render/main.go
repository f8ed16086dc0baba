// Render an Ollama TEMPLATE with Go's text/template the way Ollama does, for tests/test_export.py.
//
//	go run main.go < request.json
//
// request.json: {"template": "...", "messages": [OpenAI-style messages], "tools": [...]}.
// The data handed to the template mirrors ollama/template/template.go: system messages joined
// into .System, consecutive same-role messages merged except tool messages, .Messages with Role,
// Content, ToolCalls (ID, Function.Index/Name/Arguments as a map) and ToolCallID, .Tools, and the
// "json" function (json.Marshal), with missingkey=zero. Only the standard library is used.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type args map[string]any

func (a args) String() string {
	if a == nil {
		return "{}"
	}
	b, _ := json.Marshal(map[string]any(a))
	return string(b)
}

type callFunction struct {
	Index     int
	Name      string
	Arguments args
}

type toolCall struct {
	ID       string
	Function callFunction
}

type message struct {
	Role       string
	Content    string
	ToolCalls  []toolCall
	ToolName   string
	ToolCallID string
}

type request struct {
	Template string `json:"template"`
	Messages []struct {
		Role       string  `json:"role"`
		Content    *string `json:"content"`
		ToolCallID string  `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []map[string]any `json:"tools"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	var system []string
	var msgs []*message
	for _, m := range req.Messages {
		content := ""
		if m.Content != nil {
			content = *m.Content
		}
		cur := &message{Role: m.Role, Content: content, ToolCallID: m.ToolCallID}
		for i, tc := range m.ToolCalls {
			a := args{}
			raw := tc.Function.Arguments
			// OpenAI sends arguments as a JSON string; Ollama's API takes an object. Accept both.
			var s string
			if json.Unmarshal(raw, &s) == nil {
				raw = json.RawMessage(s)
			}
			if len(raw) > 0 {
				if err := json.Unmarshal(raw, &a); err != nil {
					fmt.Fprintln(os.Stderr, "bad arguments:", err)
					os.Exit(2)
				}
			}
			cur.ToolCalls = append(cur.ToolCalls, toolCall{ID: tc.ID, Function: callFunction{Index: i, Name: tc.Function.Name, Arguments: a}})
		}
		if m.Role == "system" {
			system = append(system, content)
		}
		if n := len(msgs); n > 0 && msgs[n-1].Role == m.Role && m.Role != "tool" {
			msgs[n-1].Content += "\n\n" + content
			continue
		}
		msgs = append(msgs, cur)
	}
	funcs := template.FuncMap{"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(req.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "template parse error:", err)
		os.Exit(3)
	}
	var tools any
	if len(req.Tools) > 0 {
		tools = req.Tools
	}
	var out strings.Builder
	err = tmpl.Execute(&out, map[string]any{"System": strings.Join(system, "\n\n"), "Messages": msgs, "Tools": tools, "Response": ""})
	if err != nil {
		fmt.Fprintln(os.Stderr, "template execute error:", err)
		os.Exit(4)
	}
	os.Stdout.WriteString(out.String())
}
