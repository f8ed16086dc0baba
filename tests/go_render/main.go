// Render an Ollama TEMPLATE with Go's text/template the way Ollama does, for tests/serve/test_export.py.
//
//	go run main.go < request.json
//
// request.json: {"template": "...", "messages": [OpenAI-style messages], "tools": [...], "shape": "...", "tag": false}.
// The data handed to the template mirrors ollama/template/template.go: system messages joined
// into .System, consecutive same-role messages merged except tool messages, .Messages with Role,
// Content, ToolCalls (ID, Function.Index/Name/Arguments as a map) and ToolCallID, .Tools, and the
// "json" function (json.Marshal), with missingkey=zero. "shape": "pre-0.12.10" hands the template
// the structs of Ollama before 0.12.10 instead: no ToolCall.ID and no Message.ToolCallID fields.
// "tag": true prints the tool-call tag Ollama's parser would look for in this template instead of
// rendering (the rule of ollama/tools/template.go, written out here). Only the standard library is used.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"text/template/parse"
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

// The message shape of Ollama 0.12.9 and older (api.Message, api.ToolCall): the fields did not exist.
type oldToolCall struct {
	Function callFunction
}

type oldMessage struct {
	Role      string
	Content   string
	ToolCalls []oldToolCall
	ToolName  string
}

func oldShape(msgs []*message) []*oldMessage {
	var out []*oldMessage
	for _, m := range msgs {
		o := &oldMessage{Role: m.Role, Content: m.Content, ToolName: m.ToolName}
		for _, tc := range m.ToolCalls {
			o.ToolCalls = append(o.ToolCalls, oldToolCall{Function: tc.Function})
		}
		out = append(out, o)
	}
	return out
}

// mentionsToolCalls: an {{if}} whose condition names the field .ToolCalls.
func mentionsToolCalls(n *parse.IfNode) bool {
	for _, cmd := range n.Pipe.Cmds {
		for _, arg := range cmd.Args {
			if f, ok := arg.(*parse.FieldNode); ok {
				for _, id := range f.Ident {
					if id == "ToolCalls" {
						return true
					}
				}
			}
		}
	}
	return false
}

// toolCallsIf: the first {{if .ToolCalls}} met walking the tree in order, through if/else, range and with bodies.
func toolCallsIf(nodes []parse.Node) *parse.IfNode {
	for _, node := range nodes {
		var lists []*parse.ListNode
		switch n := node.(type) {
		case *parse.IfNode:
			if mentionsToolCalls(n) {
				return n
			}
			lists = []*parse.ListNode{n.List, n.ElseList}
		case *parse.RangeNode:
			lists = []*parse.ListNode{n.List, n.ElseList}
		case *parse.WithNode:
			lists = []*parse.ListNode{n.List, n.ElseList}
		case *parse.ListNode:
			lists = []*parse.ListNode{n}
		}
		for _, l := range lists {
			if l != nil {
				if found := toolCallsIf(l.Nodes); found != nil {
					return found
				}
			}
		}
	}
	return nil
}

// firstText: the first non-blank text of a body; an action, or a nested block without text, ends the search.
func firstText(nodes []parse.Node) (string, bool) {
	for _, node := range nodes {
		var lists []*parse.ListNode
		switch n := node.(type) {
		case *parse.TextNode:
			if strings.TrimSpace(string(n.Text)) != "" {
				return string(n.Text), true
			}
			continue
		case *parse.ActionNode:
			return "", false
		case *parse.ListNode:
			if text, ok := firstText(n.Nodes); ok {
				return text, true
			}
			continue
		case *parse.IfNode:
			lists = []*parse.ListNode{n.List, n.ElseList}
		case *parse.RangeNode:
			lists = []*parse.ListNode{n.List, n.ElseList}
		case *parse.WithNode:
			lists = []*parse.ListNode{n.List, n.ElseList}
		default:
			continue
		}
		for _, l := range lists {
			if l != nil {
				if text, ok := firstText(l.Nodes); ok {
					return text, true
				}
			}
		}
		return "", false
	}
	return "", false
}

// toolCallTag: the text Ollama's tool parser waits for in the model's output: the first text inside
// {{if .ToolCalls}}, cut before any "{", trimmed; "{" (any JSON object) when there is none.
func toolCallTag(t *template.Template) string {
	n := toolCallsIf(t.Tree.Root.Nodes)
	if n == nil {
		return "{"
	}
	text, ok := firstText(n.List.Nodes)
	if !ok {
		return "{"
	}
	text, _, _ = strings.Cut(strings.ReplaceAll(text, "\r\n", "\n"), "{")
	if text = strings.TrimSpace(text); text == "" {
		return "{"
	}
	return text
}

type request struct {
	Template string `json:"template"`
	Shape    string `json:"shape"`
	Tag      bool   `json:"tag"`
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
	if req.Tag {
		os.Stdout.WriteString(toolCallTag(tmpl))
		return
	}
	var tools any
	if len(req.Tools) > 0 {
		tools = req.Tools
	}
	var messages any = msgs
	switch req.Shape {
	case "":
	case "pre-0.12.10":
		messages = oldShape(msgs)
	default:
		fmt.Fprintln(os.Stderr, "unknown shape:", req.Shape)
		os.Exit(2)
	}
	var out strings.Builder
	err = tmpl.Execute(&out, map[string]any{"System": strings.Join(system, "\n\n"), "Messages": messages, "Tools": tools, "Response": ""})
	if err != nil {
		fmt.Fprintln(os.Stderr, "template execute error:", err)
		os.Exit(4)
	}
	os.Stdout.WriteString(out.String())
}
