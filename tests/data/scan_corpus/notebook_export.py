#!/usr/bin/env python
# coding: utf-8

# In[1]:


from transformers import *
import torch


# In[2]:


model_name = "nlptown/bert-base-multilingual-uncased-sentiment"
tokenizer = AutoTokenizer.from_pretrained(model_name)  # expect: transformers.AutoTokenizer.from_pretrained ids=nlptown/bert-base-multilingual-uncased-sentiment
model = AutoModelForSequenceClassification.from_pretrained(model_name)  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=nlptown/bert-base-multilingual-uncased-sentiment


# In[3]:


classifier = pipeline("sentiment-analysis", model=model_name)  # expect: transformers.pipeline ids=nlptown/bert-base-multilingual-uncased-sentiment
classifier("Ce film est génial !")


# In[4]:


model_name = "cardiffnlp/twitter-xlm-roberta-base-sentiment"
model = AutoModelForSequenceClassification.from_pretrained(model_name)  # expect: transformers.AutoModelForSequenceClassification.from_pretrained ids=cardiffnlp/twitter-xlm-roberta-base-sentiment
classifier = pipeline("sentiment-analysis", model=model, tokenizer=model_name)  # expect: transformers.pipeline ids=cardiffnlp/twitter-xlm-roberta-base-sentiment


# In[ ]:
